"""``python -m bench`` (``make bench``): vnet-tui at N containers against iproute2 and pyroute2.

Builds a lab of N containers and M paused VMs in namespaces ``vl-…``,
measures every figure of issue 6 beside its baselines in the same run,
prints the table and writes bench/results/latest.json (and latest.md).
Everything it made is removed at the end, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import sys
import time
import traceback
from typing import Any, Callable

import vnet_tui

from . import discovery, journal, lab, nsscan, ops, owners, policy, readme, sweep, table, tui
from .common import Figure, settle
from .machine import machine, one_line
from .session import Session

GROUPS = ("sweep", "discovery", "tui", "ops", "policy", "journal", "lab")
EXTRA = ("owners",)  # opt-in (--only owners): starts docker, podman, LXC, nspawn and libvirt in a namespace


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--containers", type=int, default=1000, metavar="N",
                   help="containers in the lab (default 1000; 5000 for issue 14's size: past ~1,000 the lab "
                        "has a bridge per 1,000 containers)")
    p.add_argument("--vms", type=int, default=10, metavar="M", help="paused VMs in the lab (default 10)")
    p.add_argument("--repeat", type=int, default=3, metavar="R",
                   help="runs of each figure (sweeps: 10×R); default 3")
    p.add_argument("--baseline-repeat", type=int, default=1, metavar="B",
                   help="runs of the slow baselines (ip loops, ip -batch, IPRoute(netns=…)); default 1")
    p.add_argument("--quick", action="store_true",
                   help="one run each, shorter streaming and fewer samples (a smoke run)")
    p.add_argument("--only", default=",".join(GROUPS), help=f"figure groups to run (default: {','.join(GROUPS)})")
    p.add_argument("--stream-seconds", type=float, default=None, help="TUI CPU window (default 35: it holds one of the watcher's 30 s rescans; quick 5)")
    p.add_argument("--settle", type=float, default=None, metavar="S",
                   help="wait up to S seconds for the machine to go quiet before each group "
                        "(a lab just built keeps the kernel busy; default 10, quick 3, 0: never)")
    p.add_argument("--out", default=None, help="JSON path (default bench/results/latest.json)")
    p.add_argument("--report", metavar="JSON", default=None,
                   help="measure nothing: print the table of a saved run (with --readme: rewrite the section)")
    p.add_argument("--readme", action="store_true",
                   help="also write bench/README_PERFORMANCE.md (the README's Performance section) from this run")
    a = p.parse_args(argv)
    if a.containers < 1 or a.vms < 0:
        p.error("--containers must be ≥ 1 and --vms ≥ 0")
    if a.quick:
        a.repeat, a.baseline_repeat = 1, 1
    a.only = [g for g in a.only.split(",") if g]
    unknown = set(a.only) - set(GROUPS) - set(EXTRA)
    if unknown:
        p.error(f"unknown groups: {', '.join(sorted(unknown))}")
    a.stream_seconds = a.stream_seconds or (5.0 if a.quick else 35.0)
    if a.settle is None:
        a.settle = 3.0 if a.quick else 10.0
    a.keys = 12 if a.quick else 40
    a.changes = 4 if a.quick else 20
    a.ops_samples = 3 if a.quick else 15
    a.sample = 20 if a.quick else sweep.PER_SWEEP_SAMPLE
    return a


def scaling_sizes(n: int) -> list[int]:
    return sorted({max(1, n // 100), max(1, n // 10), max(1, n * 3 // 10), n})


def compiled() -> None:
    """Byte-compile vnet_tui as an installed package is (a wheel's install does): the measured
    commands then import it from .pyc files, not from source, even where PYTHONDONTWRITEBYTECODE
    keeps Python from writing them itself (70 modules: ~0.1 s of each ``show``'s start)."""
    import compileall

    compileall.compile_dir(os.path.dirname(os.path.abspath(vnet_tui.__file__)), quiet=1)


def raise_fd_limit() -> None:
    """Lift the soft RLIMIT_NOFILE to the hard one: at 5,000 containers this process (sweeps,
    discovery) holds a descriptor or more per namespace, past the usual soft 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError) as e:
            log_to_stderr(f"bench: could not raise RLIMIT_NOFILE from {soft} to {want}: {e}")


def log_to_stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def failed(key: str, name: str, e: BaseException) -> Figure:
    """A figure whose measurement broke: shown as FAIL with the error, the run goes on."""
    return Figure(key, name, None, "", None, "—", note=f"error: {type(e).__name__}: {e}", check=False)


def guarded(figs: list[Figure], keys: list[tuple[str, str]], log: Callable[[str], None],
            fn: Callable[[], Any]) -> None:
    """Run one group; on an exception log it and record its figures as failed."""
    try:
        out = fn()
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:
        log("".join(traceback.format_exception(e)).rstrip())
        figs += [failed(k, n, e) for k, n in keys]
        return
    figs += out if isinstance(out, list) else [out]


def measure_all(a: argparse.Namespace, s: Session, log: Callable[[str], None]) -> tuple[list[Figure], dict]:
    figs: list[Figure] = []
    info: dict[str, Any] = {}
    calm = lambda: settle(max_wait=a.settle) if a.settle > 0 else 0.0  # noqa: E731
    need_lab = any(g in a.only for g in ("sweep", "discovery", "tui", "ops", "policy"))
    if need_lab:
        log(f"building lab: {a.containers} containers, {a.vms} paused VMs …")
        t0 = time.monotonic()
        main = s.lab_up(a.containers, a.vms)
        info["main_lab"] = {"name": main.name, "containers": len(main.containers), "vms": len(main.vms),
                            "up_s": time.monotonic() - t0, "warnings": main.warnings}
        log(f"  lab {main.name} up in {time.monotonic() - t0:.1f} s; settling …")
        info["settled_s"] = calm()
        if "sweep" in a.only:
            log("counter sweep …")
            smalls = [s.lab_up(n, 0, prefix="s") for n in scaling_sizes(a.containers) if n < a.containers]
            calm()
            guarded(figs, [("sweep_cpu", "counter sweep"), ("sweep_floor", "  same sweep ÷ syscall floor"),
                           ("sweep_wall", "  same sweep, wall time")], log,
                    lambda: list(sweep.figure(main, a.repeat, a.baseline_repeat, log, sample=a.sample)))
            log("sweep scaling …")
            guarded(figs, [("sweep_scaling", "same sweep at several N")], log,
                    lambda: sweep.scaling(smalls + [main], a.repeat, log))
            for small in smalls:
                s.lab_down(small.name)
        if "discovery" in a.only:
            calm()
            log("discovery …")
            guarded(figs, [("discovery", "discovery: show --json end to end")], log,
                    lambda: discovery.figure(main, a.repeat, a.baseline_repeat, log))
            guarded(figs, [("ns_scan", "namespace scan per 1,000 processes")], log,
                    lambda: nsscan.figure(a.repeat, log))
        if "tui" in a.only:
            calm()
            log("TUI …")
            guarded(figs, [(k, n) for k, n in tui.FIGURES], log,
                    lambda: tui.figures(s, main, discovery.show_json(main.name)[2], a.repeat, a.keys, a.changes,
                                        a.stream_seconds, log))
        if "ops" in a.only:
            calm()
            log("add one adapter …")
            guarded(figs, [("ops_add", "add one adapter (core call)")], log,
                    lambda: ops.figure(main, a.ops_samples, log))
        if "policy" in a.only:
            calm()
            log("adapter policy …")
            guarded(figs, [("policy_add", "add a rate limit and filters to an adapter")], log,
                    lambda: policy.figure(main, a.ops_samples, log))
            guarded(figs, [("policy_sweep", "counter sweep with a policy on every adapter")], log,
                    lambda: policy.sweep_figure(main, max(4, 3 * a.repeat), log))
        t0 = time.monotonic()
        s.lab_down(main.name)
        info["main_lab"]["down_s"] = time.monotonic() - t0
    if "owners" in a.only:
        from tests.runtimes import together

        log("owners: all five runtimes in one namespace …")
        with together.server() as srv:
            guarded(figs, [("owners_runtimes", "owners: runtimes tested"), ("owners_names", "owners: names right"),
                           ("owners_states", "owners: states right"),
                           ("owners_show", "owners: show --netns --json")], log,
                    lambda: owners.run(srv, 5, log))
    if "journal" in a.only:
        calm()
        log("journal history …")
        guarded(figs, [("journal_history", "a change's journal questions, full history")], log,
                lambda: journal.figure(a.repeat, log, 0.1 if a.quick else 1.0))
    if "lab" in a.only:
        log(f"lab up/down of {a.containers} containers …")
        guarded(figs, [("lab_up", "lab up"), ("lab_down", "lab down")], log,
                lambda: lab.figures(s, a.containers, a.repeat, a.baseline_repeat, calm, log))
    return figs, info


def report(a: argparse.Namespace) -> int:
    with open(a.report) as f:
        doc = json.load(f)
    figs = [Figure.from_json(d) for d in doc["figures"]]
    doc["markdown"] = table.markdown(figs)
    table.print_table(figs, f"{one_line(doc['machine'])} · {doc['seconds']:.0f} s · {doc['when']}")
    if a.readme:
        log_to_stderr(f"wrote {readme.write(doc, figs)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    if a.report:
        return report(a)
    if os.geteuid() != 0:
        print("bench: needs root (it builds a lab in network namespaces)", file=sys.stderr)
        return 3
    raise_fd_limit()
    compiled()
    started = time.monotonic()
    m = machine()
    log_to_stderr(f"machine: {one_line(m)}")
    figs: list[Figure] = []
    info: dict[str, Any] = {}
    problems: list[str] = []
    s = Session(log_to_stderr)
    try:
        figs, info = measure_all(a, s, log_to_stderr)
    finally:
        problems = s.close()
    took = time.monotonic() - started
    doc = {
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": m,
        "load_at_end": [round(x, 2) for x in os.getloadavg()],
        "options": {k: v for k, v in vars(a).items()},
        "seconds": round(took, 1),
        "run": info,
        "cleanup_problems": problems,
        "figures": [f.to_json() for f in figs],
        "summary": {"pass": sum(f.passed is True for f in figs), "fail": sum(f.passed is False for f in figs),
                    "unjudged": sum(f.passed is None for f in figs)},
        "markdown": table.markdown(figs),
    }
    table.print_table(figs, f"{one_line(m)} · {took:.0f} s")
    path = table.write_json(doc, a.out)
    log_to_stderr(f"wrote {path}")
    if a.readme:
        log_to_stderr(f"wrote {readme.write(doc, figs)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
