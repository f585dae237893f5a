"""The README's "Performance" section, written from one run (``python -m bench --readme``)."""

from __future__ import annotations

import os
from typing import Any

from .common import Figure
from .machine import one_line
from .table import markdown, notes, num

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "README_PERFORMANCE.md")

MEASURES = """\
What each row measures (bench/ has one file per group; every figure is the median of
repeated runs unless it says p50/p95, and its baselines ran on the same lab in the same run):

- **counter sweep** (bench/sweep.py): counters of every end, read as the live watcher reads
  them every interval over sockets kept open per namespace: the host namespace's stats-only
  `RTM_GETSTATS` dump, and in each container one get request per end (all of a container's
  requests in one `send`), decoded into `{(netns inode, ifindex): counters}`; a
  container's loopback has no row and is not read. The figure is the median over
  5-sweep cycles of the mean per sweep.
  CPU is user + system time of the process (`time.process_time`, plus waited-for children
  for the `ip` baselines). Baselines, which read every link every time:
  `ip -n NS -s -j link` for every namespace (output parsed); pyroute2
  `IPRoute(netns=…, flags=0)` opened, dumped and closed per namespace (a sample, scaled to
  all); pyroute2 sockets made inside each namespace and kept open, stats dumps sync
  (`IPRoute`) and gathered (`AsyncIPRoute`) — the ratio target is judged against the
  faster of the two.
- **sweep at N = 10, 100, 1000**: the same sweep on labs of those sizes; linear when the
  cost per namespace at the largest N is within 1.5× of the next size's.
- **discovery** (bench/discovery.py): `vnet-tui show --lab NAME --json` as a command,
  from spawn to exit (interpreter, imports, every namespace opened and dumped, pairing,
  QMP, JSON). Baseline: `ip -j -n NS link` + `ip -j -n NS addr` for every namespace,
  which yields less (no pairing, owners or VMs).
- **TUI** (bench/tui.py, bench/tui_probe.py): first paint, keys and outside changes run the
  app headless (`App.run_test`, 200×50) started the way `vnet-tui --lab NAME` starts it;
  first paint counts from spawning the process until every pane holds all its rows, a
  counter sample is shown and the screen has been refreshed. A key press is timed from the
  key event entering the app until the cursor moved, the detail pane followed and the
  screen refreshed, at random moments while counters stream at 1 s. An outside change is
  `ip -n vl-NAME-host link set vethNNN.0 down`, timed from before `ip` is spawned until
  the Host pane shows the end down and the screen refreshed. CPU and memory are the real
  command in a private tmux server (200×50), counters streaming at 1 s, measured with
  psutil (all threads, user + system) over 35 s starting 5 s after the first screen, so
  the window holds one of the watcher's 30 s rescans. The lab is as built: its 2,000
  interfaces send IPv6 router solicitations with back-off (there is no router), which a
  bridge floods to every port, so some hundreds of ends move each second. With *every*
  end moving (a broadcast every 250 ms from one container, not a bench row) the same
  command used 8.4 % of one core on this machine.
- **add one adapter** (bench/ops.py): `txn.api.add` (validate, stale check, veth created
  with its peer already in the container, address, bridge, up, verify, journal) with the
  topology discovered beforehand, as the TUI holds it; baseline: the four `ip` commands
  that make the same adapter without any check.
- **lab up / down** (bench/lab.py): the CLI commands; baseline: `ip -batch` building the
  same namespaces, bridge, veths and addresses (one batch per container for its side,
  as a batch cannot switch namespaces) and deleting the namespaces.
"""


def _failing(figs: list[Figure]) -> str:
    bad = [f for f in figs if f.passed is False]
    if not bad:
        return "Every figure met its target in this run."
    items = []
    for f in bad:
        parts = []
        if f.target is not None and f.ours is not None and f.ours > f.target:
            parts.append(f"{num(f.ours, f.unit)} against {f.target_text}")
        parts += [f"{b.ratio:.1f}× against ≥ {b.ratio_target:g}× ({b.name})" for b in f.baselines
                  if b.ratio_ok is False and b.ratio is not None]
        if f.check is False:
            parts.append(f.target_text)
        items.append(f"- {f.name.strip()}: {'; '.join(parts) or 'see bench/results/latest.json'}")
    return "Not at target in this run:\n\n" + "\n".join(items)


def _noise(figs: list[Figure]) -> str:
    """The same measurement taken twice in one run, to show how much the machine moves."""
    by = {f.key: f for f in figs}
    sw, sc = by.get("sweep_cpu"), by.get("sweep_scaling")
    points = (sc.detail.get("points") if sc else None) or []
    if not sw or sw.ours is None or not points:
        return ""
    again = points[-1]["cpu_ms"]
    return (f" The same {sw.detail.get('namespaces', 0):,}-namespace sweep measured twice in this run gave {sw.ours:.1f} ms (its own row) and "
            f"{again:.1f} ms (the scaling row, a minute later): read differences below ~30 % as noise.")


def section(doc: dict[str, Any], figs: list[Figure]) -> str:
    m = doc["machine"]
    o = doc["options"]
    return f"""## Performance

`make bench` builds a lab of {o['containers']:,} containers and {o['vms']} paused VM{'' if o['vms'] == 1 else 's'} (in namespaces
`vl-…`, never touching the machine's own network), measures every figure beside the ways a
script or another library would do the same job, prints this table and writes
`bench/results/latest.json`. The latest run ({doc['when']}, {doc['seconds']:.0f} s):

{markdown(figs)}

{chr(10).join("- " + n for n in notes(figs))}

Ratios are baseline ÷ ours (how many times cheaper vnet-tui is). Machine: {one_line(m)} ·
{m['qemu'].split(' (')[0]}. The machine is shared: load average
{m['load_at_start']} at the start and {doc['load_at_end']} at the end of the run, which
stretches wall times more than CPU times.{_noise(figs)}

{_failing(figs)}

### Reproduce

```sh
make bench                                   # N = 1,000 containers, 10 paused VMs, 3 runs each
.venv/bin/python -m bench --containers 100   # smaller; --quick for a one-run smoke
.venv/bin/python -m bench --only sweep,tui   # some groups: sweep, discovery, tui, ops, policy, journal, lab
.venv/bin/python -m bench --readme           # also rewrite this section from the run
```

Needs root, `ip`, `tmux` and QEMU (`make system-deps`). Everything the run makes is removed
at the end, also on failure or Ctrl-C; its state (lab files, QMP sockets, the ops journal)
lives in a private `/tmp/vnb-…` folder. `tests/bench/test_bench_smoke.py` runs it at 5
containers in the test suite so it never rots; it asserts the table and JSON, never a time.

{MEASURES}"""


def write(doc: dict[str, Any], figs: list[Figure], path: str = PATH) -> str:
    with open(path, "w") as f:
        f.write(section(doc, figs))
    return path
