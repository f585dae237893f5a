"""The ways a script or another library would do what we do, measured the same way.

Each returns a pair of Baselines (CPU, wall) in ms, medians of its runs.
CPU counts this process and the ``ip`` processes it waited for
(RUSAGE_CHILDREN); pyroute2's own helper processes (``IPRoute(netns=…)``
forks one per socket) are waited for when the socket closes, so they count.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from typing import Any, Callable

from vnet_tui.net.netns import entered, netns_inode, open_netns

from .common import IP, Baseline, measure, median

Pair = tuple[Baseline, Baseline]


def _pair(name: str, cpu: list[float], wall: list[float], note: str = "") -> Pair:
    return (Baseline(name, median(cpu), "ms", samples=cpu, note=note),
            Baseline(name, median(wall), "ms", samples=wall, note=note))


# -- counters -------------------------------------------------------------------
def ip_stats_loop(names: list[str], repeat: int, log: Callable[[str], None]) -> Pair:
    """``ip -n NS -s -j link`` for every namespace, output parsed as a script would."""

    picked, scale, note = _sampled(names)

    def run() -> int:
        n = 0
        for ns in picked:
            out = subprocess.run([IP, "-n", ns, "-s", "-j", "link"], capture_output=True, text=True,
                                 check=True).stdout
            n += len(json.loads(out))
        return n

    cpu, wall = [], []
    for _ in range(repeat):
        cost, n = measure(run)
        cpu.append(cost.cpu_ms * scale)
        wall.append(cost.wall_ms * scale)
    log(f"  ip -n NS -s -j link ×{len(names)}{note}: {median(cpu):.0f} ms CPU, {median(wall):.0f} ms wall ({n} links)")
    return _pair(f"ip -n NS -s -j link, ×{len(names):,}{note}", cpu, wall)


LOOP_SAMPLE = 1000  # past this many namespaces a baseline is measured on this many spread over them, scaled


def _sampled(names: list[str]) -> tuple[list[str], float, str]:
    """(the namespaces a baseline runs on, the factor to all of them, the label's note): all up to
    LOOP_SAMPLE; past it LOOP_SAMPLE spread over the list (at 5,000 the ip loops took 4–5 min each,
    and pyroute2 kept open needs more open files than the hard limit allows)."""
    picked = _spread(names, LOOP_SAMPLE)
    scale = len(names) / len(picked)
    return picked, scale, ("" if scale == 1 else f" ({len(picked):,} sampled, ×{scale:.1f})")


def _spread(names: list[str], k: int) -> list[str]:
    """``k`` namespaces spread over the list (the host's first)."""
    if k >= len(names):
        return list(names)
    step = len(names) / k
    return [names[int(i * step)] for i in range(k)]


def pyroute2_per_sweep(names: list[str], sample: int, repeat: int, log: Callable[[str], None]) -> Pair:
    """``IPRoute(netns=NS, flags=0)`` opened, stats dumped, closed — for a sample, scaled to all."""
    from pyroute2 import IPRoute

    picked = _spread(names, sample)
    scale = len(names) / len(picked)

    def run() -> int:
        n = 0
        for ns in picked:
            with IPRoute(netns=ns, flags=0) as ipr:
                for m in ipr.stats("dump"):
                    if m.get("IFLA_STATS_LINK_64") is not None:
                        n += 1
        return n

    cpu, wall = [], []
    for _ in range(repeat):
        cost, _n = measure(run)
        cpu.append(cost.cpu_ms * scale)
        wall.append(cost.wall_ms * scale)
    log(f"  pyroute2 IPRoute(netns=…) per sweep ({len(picked)} sampled, ×{scale:.2f}): "
        f"{median(cpu):.0f} ms CPU, {median(wall):.0f} ms wall")
    return _pair(f"pyroute2 IPRoute(netns=…) per sweep ({len(picked)} sampled, ×{scale:.1f})", cpu, wall,
                 note=f"measured on {len(picked)} of {len(names)} namespaces, ×{scale:.2f}")


def _open_fds(names: list[str]) -> list[int]:
    return [open_netns(n) for n in names]


def pyroute2_kept_open(names: list[str], repeat: int, log: Callable[[str], None]) -> Pair:
    """One sync ``IPRoute()`` per namespace, made inside it and kept; a stats dump of each per sweep."""
    from pyroute2 import IPRoute

    picked, scale, note = _sampled(names)
    fds = _open_fds(picked)
    iprs: list[Any] = []
    try:
        inodes = [netns_inode(fd) for fd in fds]
        for fd in fds:
            with entered(fd):
                iprs.append(IPRoute())

        def run() -> int:
            out: dict[tuple[int, int], Any] = {}
            for inode, ipr in zip(inodes, iprs):
                for m in ipr.stats("dump"):
                    s = m.get("IFLA_STATS_LINK_64")
                    if s is not None:
                        out[(inode, m["ifindex"])] = s
            return len(out)

        run()
        cpu, wall = [], []
        for _ in range(max(3, repeat)):
            cost, n = measure(run)
            cpu.append(cost.cpu_ms * scale)
            wall.append(cost.wall_ms * scale)
    finally:
        for ipr in iprs:
            ipr.close()
        for fd in fds:
            os.close(fd)
    log(f"  pyroute2 IPRoute kept open, stats dumps{note}: {median(cpu):.0f} ms CPU, {median(wall):.0f} ms wall "
        f"({n} ends)")
    return _pair(f"pyroute2 IPRoute kept open, stats dumps{note}", cpu, wall)


def pyroute2_kept_open_async(names: list[str], repeat: int, log: Callable[[str], None]) -> Pair:
    """One ``AsyncIPRoute`` per namespace, kept; stats dumps of all gathered per sweep."""
    from pyroute2 import AsyncIPRoute

    picked, scale, note = _sampled(names)
    fds = _open_fds(picked)
    inodes = [netns_inode(fd) for fd in fds]
    cpu: list[float] = []
    wall: list[float] = []
    n = 0

    async def main() -> None:
        nonlocal n
        iprs: list[Any] = []
        try:
            for fd in fds:
                with entered(fd):
                    ipr = AsyncIPRoute()
                    await ipr.setup_endpoint()  # the socket is made here, inside the namespace
                iprs.append(ipr)

            async def one(inode: int, ipr: Any, out: dict) -> None:
                async for m in await ipr.stats("dump"):
                    s = m.get("IFLA_STATS_LINK_64")
                    if s is not None:
                        out[(inode, m["ifindex"])] = s

            async def sweep() -> int:
                out: dict[tuple[int, int], Any] = {}
                await asyncio.gather(*(one(i, r, out) for i, r in zip(inodes, iprs)))
                return len(out)

            await sweep()
            for _ in range(max(3, repeat)):
                c0, w0 = time.process_time(), time.perf_counter()
                n = await sweep()
                cpu.append((time.process_time() - c0) * 1000 * scale)
                wall.append((time.perf_counter() - w0) * 1000 * scale)
        finally:
            for ipr in iprs:
                ipr.close()

    try:
        asyncio.run(main())
    finally:
        for fd in fds:
            os.close(fd)
    log(f"  pyroute2 AsyncIPRoute kept open, gathered{note}: {median(cpu):.0f} ms CPU, {median(wall):.0f} ms wall "
        f"({n} ends)")
    return _pair(f"pyroute2 AsyncIPRoute kept open, dumps gathered{note}", cpu, wall)


# -- discovery ------------------------------------------------------------------
def ip_link_addr_loop(names: list[str], repeat: int, log: Callable[[str], None]) -> Pair:
    """``ip -j -n NS link`` + ``ip -j -n NS addr`` for every namespace (structure only, unpaired)."""
    picked, scale, note = _sampled(names)

    def run() -> int:
        n = 0
        for ns in picked:
            for what in ("link", "addr"):
                out = subprocess.run([IP, "-j", "-n", ns, what], capture_output=True, text=True,
                                     check=True).stdout
                n += len(json.loads(out))
        return n

    cpu, wall = [], []
    for _ in range(repeat):
        cost, _n = measure(run)
        cpu.append(cost.cpu_ms * scale)
        wall.append(cost.wall_ms * scale)
    log(f"  ip -j -n NS link + addr ×{len(names)}{note}: {median(wall) / 1000:.2f} s wall, "
        f"{median(cpu) / 1000:.2f} s CPU")
    return _pair(f"ip -j -n NS link + ip -j -n NS addr, ×{len(names):,}{note}", cpu, wall)
