"""A process holding more than 1,024 descriptors (the TUI of a 1,000-container server) can still set a policy.

libnftables waits on its netlink socket with select(2); glibc aborts the whole process when that
socket's descriptor is past FD_SETSIZE.  The child here holds 1,100 descriptors, then sets a MAC
filter through the core (nft must run as its own process) and waits on a descriptor past 1,024
with ``core.readable`` (poll, not select).  Without either, the child dies of SIGABRT or ValueError.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.live.test_policy_helpers import GUEST_MAC, our_chains, plab  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_a_policy_and_a_wait_past_fd_setsize(plab):
    code = textwrap.dedent(f"""
        import os, resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4096), max(hard, 4096)))
        held = [os.open("/dev/null", os.O_RDONLY) for _ in range(1100)]
        assert held[-1] > 1024
        from vnet_tui.core.readable import readable
        r, w = os.pipe()
        assert r > 1024
        assert not readable(r, 0.01)
        os.write(w, b"x")
        assert readable(r, 1)
        from vnet_tui.policy import plan, steps
        from vnet_tui.policy.port import Port
        with Port({plab.host!r}, {plab.port!r}) as port:
            steps.apply(port, plan.plan(port, {{"mac_filter": {GUEST_MAC!r}}}))
        print("ok", flush=True)
    """)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stderr[-2000:])
    chains = our_chains(plab.host)
    assert any(name.endswith("_" + plab.port) for name in chains), chains
