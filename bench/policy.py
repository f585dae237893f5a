"""Adapter policy: a rate limit each way and both anti-spoofing filters put on one adapter, beside the commands.

Ours: ``policy.plan.plan(port, {rate_in, rate_out, mac_filter, ip_filter})``
then ``policy.steps.apply`` on a lab container's host end — the port
read back from the kernel first (link, qdiscs, our nft table), every
input validated, steps each with its inverse: a tbf root qdisc over raw
rtnetlink, and the MAC filter, IP filter and rate-out chains as one
nftables transaction through libnftables in the host namespace.  Each sample takes a different container, and the
policy is removed again (untimed) after it.

Baseline: the same commands as an operator would type them — the steps'
own command text, one ``tc`` and one ``ip netns exec … nft '…'`` process
— with no read, no checks and nothing to undo with.

Register in bench/__main__.py (the lead's file) beside ``ops``::

    from . import policy
    if "ops" in a.only:            # or a group of its own, "policy"
        guarded(figs, [("policy_add", "add a rate limit and filters to an adapter")], log,
                lambda: policy.figure(main, a.ops_samples, log))

        guarded(figs, [("policy_sweep", "counter sweep with a policy on every adapter")], log,
                lambda: policy.sweep_figure(main, max(4, 3 * a.repeat), log))

Standalone: ``.venv/bin/python -m bench.policy [--containers 20] [--samples 15] [--cycles 6]``.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from typing import Any, Callable

from vnet_tui.lab import LabInfo
from vnet_tui.policy import plan, steps
from vnet_tui.policy.port import Port

from .common import Baseline, Figure, median

TARGET_MS = 20.0
RATE = {"rate": "10mbit", "burst": "32kb"}


def want_for(c: Any) -> dict[str, Any]:
    return {"rate_in": RATE, "rate_out": RATE, "mac_filter": c.mac, "ip_filter": [c.ipv4, c.ipv6]}


CLEAR = {"rate_in": None, "rate_out": None, "mac_filter": None, "ip_filter": None}


def figure(info: LabInfo, samples: int, log: Callable[[str], None]) -> Figure:
    cts = info.containers
    host = info.host_netns
    n = min(samples, max(1, len(cts) // 2))
    ours: list[float] = []
    base: list[float] = []
    commands: list[str] = []
    for i in range(n):
        c = cts[i]
        with Port(host, c.host_ifname) as port:
            t0 = time.perf_counter()
            s = plan.plan(port, want_for(c))
            steps.apply(port, s)
            ours.append((time.perf_counter() - t0) * 1000)
            commands = [x.command for x in s]
            steps.apply(port, plan.plan(port, CLEAR))
        # the same commands by hand, on a container from the other end
        c = cts[len(cts) - 1 - i]
        with Port(host, c.host_ifname) as port:
            argvs = [shlex.split(x.command) for x in plan.plan(port, want_for(c))]
            t0 = time.perf_counter()
            for argv in argvs:
                subprocess.run(argv, check=True, capture_output=True)
            base.append((time.perf_counter() - t0) * 1000)
            steps.apply(port, plan.plan(port, CLEAR))
    # what show would add: every host end's policy read back, one namespace listing (read_many)
    from vnet_tui.policy.read import read_many

    names = [c.host_ifname for c in cts]
    t0 = time.perf_counter()
    read_many(host, names)
    read_all_ms = (time.perf_counter() - t0) * 1000
    log(f"  read_many of {len(names)} host ends: {read_all_ms:.0f} ms ({read_all_ms / max(1, len(names)):.2f} ms each)")
    log(f"  policy.plan+apply: p50 {median(ours):.1f} ms ({n}); tc + nft: p50 {median(base):.1f} ms")
    fig = Figure("policy_add", "add a rate limit each way and MAC+IP filters to an adapter (core call, wall)",
                 median(ours), "ms", TARGET_MS, f"p50 ≤ {TARGET_MS:g} ms", stat="p50", samples=ours,
                 detail={"containers": len(cts), "steps": len(commands), "commands": commands,
                         "read_all_ms": read_all_ms, "read_per_adapter_ms": read_all_ms / max(1, len(names))},
                 note="read back from the kernel, validated, steps with inverses (tbf over rtnetlink, one nft "
                      "transaction via libnftables for the MAC/IP filters and rate-out); baseline: the same "
                      "commands as processes")
    b = Baseline("tc qdisc replace … tbf; ip netns exec … nft '…' (mac, ip, rate-out)", median(base), "ms",
                 samples=base)
    fig.ratio_against(b)
    fig.baselines = [b]
    return fig


SWEEP_BAND = 1.3  # "unchanged": the sweep with every adapter under policy within 1.3× of without
POLICY_SAMPLE = 1000  # adapters given a policy for that figure, at most


def sweep_figure(info: LabInfo, cycles: int, log: Callable[[str], None]) -> Figure:
    """The watcher's counter sweep over the lab, without policies, then with one on every adapter.

    Every container's host end gets a rate limit each way and both filters
    (set untimed, removed again after); the sweep is bench.sweep's, as the
    watcher runs it.  Nothing a policy adds (qdiscs, nft chains) is in the
    stats messages, so the figure must not move beyond noise.
    """
    from .sweep import lab_namespaces, opened, our_sweeps

    names = lab_namespaces(info)
    # past POLICY_SAMPLE adapters, that many spread over the lab get one: nftables reads every table
    # before each transaction, so setting 5,000 one by one took the bench over half an hour
    step = max(1, -(-len(info.containers) // POLICY_SAMPLE))
    some = info.containers[::step]
    which = f"every one of {len(some):,}" if len(some) == len(info.containers) else \
        f"{len(some):,} of the {len(info.containers):,}"
    with opened(names) as nss:
        without = our_sweeps(nss, cycles)["cpu"]
        t0 = time.perf_counter()
        for c in some:
            with Port(info.host_netns, c.host_ifname) as port:
                steps.apply(port, plan.plan(port, want_for(c)))
        set_s = time.perf_counter() - t0
        try:
            with_policy = our_sweeps(nss, cycles)["cpu"]
        finally:
            for c in some:
                with Port(info.host_netns, c.host_ifname) as port:
                    steps.apply(port, plan.plan(port, CLEAR))
    ours, base = median(with_policy), median(without)
    log(f"  sweep with a policy on {which} adapters: {ours:.2f} ms CPU; without: {base:.2f} ms "
        f"(policies set in {set_s:.1f} s)")
    fig = Figure("policy_sweep", f"counter sweep with a rate limit and filters on {which} "
                 f"adapters (CPU/sweep)", ours, "ms", None,
                 f"≤ {SWEEP_BAND:g}× the same sweep without", samples=with_policy,
                 detail={"adapters": len(some), "without_ms": base, "set_all_s": set_s},
                 check=ours <= SWEEP_BAND * base)
    b = Baseline("the same sweep, no policy anywhere", base, "ms", samples=without)
    fig.ratio_against(b)
    fig.baselines = [b]
    return fig


def _main() -> int:  # pragma: no cover - a manual run
    import argparse
    import sys

    from .session import Session
    from .table import print_table

    ap = argparse.ArgumentParser(prog="bench.policy")
    ap.add_argument("--containers", type=int, default=20)
    ap.add_argument("--samples", type=int, default=15)
    ap.add_argument("--cycles", type=int, default=6)
    a = ap.parse_args()
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    with Session(log) as s:
        info = s.lab_up(a.containers, 0, prefix="p")
        try:
            figs = [figure(info, a.samples, log), sweep_figure(info, a.cycles, log)]
        finally:
            s.lab_down(info.name)
    print_table(figs, "bench.policy")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())
