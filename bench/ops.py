"""Adding one adapter: the core call (``txn.api.add``) beside the same change made with ``ip``.

Ours: ``api.add(server, AddRequest(ctN, ips=[…], bridge="br0"), topology=T)``
— validate, stale check, create the veth with its peer already in the
container, address, bridge, up, re-read and verify, journal — with the
topology discovered once beforehand (as the TUI holds it).  Each sample
adds to a different container, so the held topology stays true for it.
The journal goes to the run's private state folder.

Baseline: ``ip -n HOST link add … type veth peer name ethN netns CT``,
``ip -n CT addr add``, ``ip -n CT link set ethN up``,
``ip -n HOST link set … master br0 up`` — four commands, no checks.
"""

from __future__ import annotations

import time
from typing import Callable

from vnet_tui.core.server import Server
from vnet_tui.discovery.topology import discover
from vnet_tui.lab import LabInfo
from vnet_tui.txn import api
from vnet_tui.ops.requests import AddRequest

from .common import Baseline, Figure, ip, median

TARGET_MS = 20.0


def figure(info: LabInfo, samples: int, log: Callable[[str], None]) -> Figure:
    server = Server(lab=info.name)
    cts = info.containers
    host = info.host_netns
    n = min(samples, max(1, len(cts) // 2))
    topo = discover(server)
    ours: list[float] = []
    base: list[float] = []
    for i in range(n):
        # ours, on the i-th container; then the same with ip on one from the other end.  Each
        # adapter is deleted again, untimed: a bridge takes 1,024 ports at most (BR_MAX_PORTS)
        # and a lab of 1,000 containers and 10 VMs already uses 1,011 of them.
        c = cts[i]
        req = AddRequest(c.name, ips=[f"10.77.{i // 250}.{i % 250 + 1}/16"], bridge="br0")
        t0 = time.perf_counter()
        res = api.add(server, req, topology=topo)
        ours.append((time.perf_counter() - t0) * 1000)
        made = (res.record.get("target") or {}).get("host") or f"veth{c.ctid}.1"
        ip("-n", host, "link", "del", made, check=False)
        c = cts[len(cts) - 1 - i]
        veth, guest = f"veth{c.ctid}.9", "eth9"
        t0 = time.perf_counter()
        ip("-n", host, "link", "add", veth, "type", "veth", "peer", "name", guest, "netns", c.netns)
        ip("-n", c.netns, "addr", "add", f"10.78.{i // 250}.{i % 250 + 1}/16", "dev", guest)
        ip("-n", c.netns, "link", "set", guest, "up")
        ip("-n", host, "link", "set", veth, "master", "br0", "up")
        base.append((time.perf_counter() - t0) * 1000)
        ip("-n", host, "link", "del", veth, check=False)
    log(f"  api.add: p50 {median(ours):.1f} ms ({n}); ip ×4: p50 {median(base):.1f} ms")
    fig = Figure("ops_add", "add one adapter (core call, wall)", median(ours), "ms", TARGET_MS,
                 f"p50 ≤ {TARGET_MS:g} ms", stat="p50", samples=ours,
                 detail={"containers": len(cts)})
    b = Baseline("ip link add … peer … netns …; addr add; link set up ×2", median(base), "ms", samples=base)
    fig.ratio_against(b)
    fig.baselines = [b]
    return fig
