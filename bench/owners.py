"""``python -m bench.owners``: issue 9's figures on one server running all five runtimes at once.

Brings up tests/runtimes/together.py's server (dockerd, podman, LXC, systemd-nspawn, libvirtd +
QEMU, all in one network namespace ``vt-all-<hex>``, each in a private mount namespace), then:

* runtimes tested: how many of the five came up (the others NOT TESTED, with the reason);
* names right / states right: each container and VM of ``vnet-tui show --netns THAT --json``
  against its runtime's own CLI (docker ps, podman ps, lxc-ls --fancy, nspawn's command line,
  virsh list);
* show time: ``vnet-tui show --netns THAT --json`` wall time from spawn (a fresh interpreter,
  as an operator runs it), median of ``--repeat`` (5), beside a baseline of asking each runtime's
  CLI what vnet-tui answers in one go: ``docker ps`` + ``podman ps`` + ``lxc-ls`` + ``virsh list``
  + ``ip -j link`` in the server's netns and in each container's.

Everything is removed at the end (the server's own tear-down checks it).  Not part of
``python -m bench``'s groups: run on its own, or register ``run(srv, repeat, log)`` as a group.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any, Callable, Optional

from .common import Baseline, Figure, median
from .machine import machine, one_line
from . import table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOW_TARGET_MS = 1000.0  # issue 9: show finishes in under 1 s


def _show(netns: str, env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "vnet_tui", "show", "--netns", netns, "--json"], env=env,
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    wall = (time.perf_counter() - t0) * 1000
    if r.returncode != 0:
        raise RuntimeError(f"vnet-tui show failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    return wall, json.loads(r.stdout)


def _clis(srv: Any, shown: dict[str, Any]) -> float:
    """Wall ms of asking every runtime's CLI and ip in every namespace (what show answers at once)."""
    t0 = time.perf_counter()
    if srv.docker:
        srv.docker.cli("ps", "-a", "--no-trunc", "--format", "{{json .}}")
    if srv.podman:
        srv.podman.podman("ps", "-a", "--format", "json")
    if srv.lxc:
        srv.lxc.lxc("lxc-ls", "--fancy", "-F", "NAME,STATE")
    if srv.libvirt:
        srv.libvirt.virsh("list", "--all")
    subprocess.run(["ip", "-j", "-n", srv.netns, "link", "show"], check=True, capture_output=True)
    for c in shown["containers"]:
        pid = c["netns"]["pids"][0]
        subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-j", "link", "show"], check=True,
                       capture_output=True)
    return (time.perf_counter() - t0) * 1000


def compare(srv: Any, shown: dict[str, Any]) -> tuple[int, int, int, list[str]]:
    """(expected, names right, states right, what was wrong) of show against each runtime's CLI.

    Something shown that the runtime does not list (another daemon's VM, say) is wrong too: it
    is in the list, and it fails the names figure."""
    from tests.runtimes import together

    total = names = states = 0
    wrong: list[str] = []
    for rt in srv.tested:
        want = together.owners_say(srv, rt)
        things = shown["vms"] if rt == "libvirt" else shown["containers"]
        got = {}
        for c in things:
            if c.get("runtime") == rt:
                got.setdefault(c["name"], []).append(c)
        for name, w in want.items():
            total += 1
            g = got.get(name, [])
            if len(g) == 1 and ("id" not in w or g[0].get("id") == w["id"]):
                names += 1
            else:
                wrong.append(f"{rt} {name}: shown {len(g)}×{' with another id' if g else ''}")
                continue
            if (g[0].get("state") or "").lower() == w["state"].lower():
                states += 1
            else:
                wrong.append(f"{rt} {name}: state {g[0].get('state')!r}, {rt} says {w['state']!r}")
        for name in set(got) - set(want):
            wrong.append(f"{rt} {name}: shown, but {rt} does not list it")
    return total, names, states, wrong


def run(srv: Any, repeat: int = 5, log: Callable[[str], None] = lambda m: None,
        env: Optional[dict[str, str]] = None) -> list[Figure]:
    """The four figures on a running together.server()."""
    env = env or dict(os.environ)
    log(f"owners: show --netns {srv.netns} --json ×{repeat}, and the runtimes' CLIs ×{repeat}")
    walls, base = [], []
    shown: dict[str, Any] = {}
    _show(srv.netns, env)  # warm the page cache once (both sides run after it)
    for _ in range(repeat):
        w, shown = _show(srv.netns, env)
        walls.append(w)
        base.append(_clis(srv, shown))
    total, names, states, wrong = compare(srv, shown)
    n = len(srv.tested)
    nt = "; ".join(f"NOT TESTED {rt}: {why[:120]}" for rt, why in srv.not_tested.items())
    figs = [
        Figure("owners_runtimes", "owners: runtimes tested (of 5)", float(n), "", None, "5 (others NOT TESTED)",
               stat="count", check=n == 5, note=nt or f"all five: {', '.join(srv.tested)}"),
        Figure("owners_names", "owners: names right (= runtime's CLI)", float(names), "", None,
               f"{total} of {total}, none extra", stat="count",
               check=names == total and total > 0 and not any("does not list it" in w for w in wrong),
               note="; ".join(wrong)),
        Figure("owners_states", "owners: states right (= runtime's CLI)", float(states), "", None,
               f"{total} of {total}", stat="count", check=states == total and total > 0),
    ]
    f = Figure("owners_show", "owners: show --netns --json (wall, from spawn)", median(walls), "ms",
               SHOW_TARGET_MS, f"< {SHOW_TARGET_MS:.0f} ms", samples=walls,
               detail={"containers": len(shown.get("containers", [])), "vms": len(shown.get("vms", []))},
               note=f"{len(shown.get('containers', []))} containers, {len(shown.get('vms', []))} VMs; "
                    f"baseline = docker ps + podman ps + lxc-ls + virsh list + ip -j link in "
                    f"{1 + len(shown.get('containers', []))} netns, sequential")
    b = Baseline("runtimes' CLIs + ip per netns", median(base), "ms", samples=base)
    f.ratio_against(b)
    f.baselines.append(b)
    figs.append(f)
    return figs


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.owners", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=5, help="runs of show and of the baseline (default 5)")
    p.add_argument("--out", default=None, help="also write the figures as JSON here")
    a = p.parse_args(argv)
    sys.path.insert(0, ROOT)
    from tests.runtimes import together

    def log(m: str) -> None:
        print(m, file=sys.stderr, flush=True)

    t0 = time.monotonic()
    log("owners: bringing up docker, podman, LXC, nspawn, libvirt+QEMU in one netns…")
    with together.server() as srv:
        for rt, why in srv.not_tested.items():
            log(f"!!! NOT TESTED: {rt}: {why}")
        state = os.path.join(srv.docker.scratch if srv.docker else "/tmp", "vt-bench-state")
        figs = run(srv, a.repeat, log, dict(os.environ, VNET_TUI_STATE=state))
    took = time.monotonic() - t0
    table.print_table(figs, f"{one_line(machine())} · {took:.0f} s")
    if a.out:
        table.write_json({"figures": [f.to_json() for f in figs], "machine": machine()}, a.out)
    return 0 if all(f.passed is not False for f in figs) else 1


if __name__ == "__main__":
    sys.exit(main())
