"""Pairing made visible: traffic through one adapter, end to end, counted at both ends.

    from vnet_tui.pair import run_pair_test
    result = run_pair_test(Server(lab="demo"), "ct101", "eth0", from_end="guest", frames=1000)
    result = run_pair_test(Server(lab="demo"), "ct101", "eth0", spoof="mac")        # or throughput=3.0

- ``framing``: what goes on the wire (marked frames, ARP probes) and why
  it never leaves the pair;
- ``sockets``: packet sockets bound to an end inside its namespace;
- ``ends``: which pair, its namespaces checked, the SSH guard;
- ``test``: the container (veth) test; ``vm``: the VM (tap) test through
  its guest;
- ``counters``/``mirror``: both ends' counters and the check that what
  one end transmitted the other received (and what the host end's
  policy dropped of it: ``policy``, not loss);
- the policy demos, for a container adapter: ``spoof`` (forged frames
  from the guest end, built by ``forge``, dropped and counted by the
  host end's filters) and ``throughput`` (traffic held at its rate
  limit); for a lab VM's adapter, ``vmspoof`` (its guest sends forged
  pings through its guest agent, then is restored) and ``vmthroughput``
  (the guest's side through its agent: what ``vmguest`` runs there);
  ``isolation`` proves a container adapter's bridge port isolation: frames
  from temporary probe ports on its bridge (``probeport``), each kind held
  back by one flag (``isokinds``), counted at the guest end;
  ``hostpolicy`` reads the host end's policy and its counters
  (vnet_tui.policy) for both and for the pair view.

No Textual here: the CLI (commands/pair_test.py) and the pair view
(ui/pair/) are two faces of this.
"""

from .mirror import Direction, mirror, mirror_json
from .result import STATUSES, TraceEvent
from .test import MAX_FRAMES, run_pair_test

__all__ = ["Direction", "MAX_FRAMES", "STATUSES", "TraceEvent", "mirror", "mirror_json", "run_pair_test"]
