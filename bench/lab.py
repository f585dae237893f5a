"""``lab up`` / ``lab down`` of N containers, beside ``ip -batch`` building the same network.

Ours: the CLI, ``vnet-tui lab up NAME --containers N --vms 0`` and
``vnet-tui lab down NAME``, wall time of each command (it also starts a
holder process per container, which the baseline does not).

Baseline, same names, MACs and addresses (lab.names.plan) and the same
network as ``lab up`` makes (lab/build.py): one ``ip -batch`` making the
namespaces; the host namespace's IPv6 default off (host ends without IPv6);
one ``ip -n HOST -batch`` making the bridges, down (past ~1,000 containers
br1… linked to br0 by a veth pair, as ``lab up`` does) and every veth (peer
already in its container, on its bridge, up); one ``ip -n CT -batch`` per
container (lo up, eth0 without IPv6 link-local and up, IPv4, IPv6 without
DAD) — a batch cannot switch namespaces; then the bridges up, br0 the
multicast querier, and the host's IPv6 default back.  Down: one
``ip -batch`` of ``netns del``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Callable

from vnet_tui.lab import LabSpec, plan
from vnet_tui.lab.names import BRIDGE, BRIDGE_IPV4, BRIDGE_IPV6

from .common import IP, Baseline, Figure, median
from .session import Session

# targets: issue 6 at 1,000 containers (up 10 s, down 3 s), issue 14 at 5,000 (45 s, 10 s);
# between and past them, the line through both (below 1,000: the 1,000 targets)
UP_S, DOWN_S = 10.0, 3.0
UP_5000_S, DOWN_5000_S = 45.0, 10.0


def targets(containers: int) -> tuple[float, float]:
    """(up, down) targets in seconds for a lab of ``containers``."""
    k = max(0.0, (containers - 1000) / 4000)
    return UP_S + k * (UP_5000_S - UP_S), DOWN_S + k * (DOWN_5000_S - DOWN_S)


def _batch(lines: list[str], netns: str | None = None) -> None:
    argv = [IP] + (["-n", netns] if netns else []) + ["-batch", "-"]
    r = subprocess.run(argv, input="\n".join(lines) + "\n", capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"ip -batch failed: {r.stderr.strip()[:500]}")


def _sysctl(netns: str, path: str, value: str) -> None:
    subprocess.run([IP, "netns", "exec", netns, "sh", "-c", f"echo {value} > /proc/sys/{path}"], check=True)


def ip_batch_up(name: str, containers: int) -> None:
    p = plan(LabSpec(name, containers, 0, 7))
    _batch([f"netns add {p.host_netns}"] + [f"netns add {c.netns}" for c in p.containers])
    _sysctl(p.host_netns, "net/ipv6/conf/default/disable_ipv6", "1")
    # the bridges down until their ports are in; br0 with IPv6 (its address; the querier's link-local)
    _batch([f"link add {br.name} address {br.mac} type bridge" for br in p.bridges], p.host_netns)
    _sysctl(p.host_netns, f"net/ipv6/conf/{BRIDGE}/accept_dad", "0")
    _sysctl(p.host_netns, f"net/ipv6/conf/{BRIDGE}/disable_ipv6", "0")
    host = [f"addr add {BRIDGE_IPV4} dev {BRIDGE}", f"addr add {BRIDGE_IPV6} dev {BRIDGE} nodad"]
    for br in p.bridges[1:]:
        host += [f"link add {br.downlink} address {br.downlink_mac} master {BRIDGE} up type veth "
                 f"peer name {br.uplink} address {br.uplink_mac}",
                 f"link set {br.uplink} master {br.name} up"]
    for c in p.containers:
        host.append(f"link add {c.host_ifname} address {c.host_mac} master {c.bridge} up type veth "
                    f"peer name {c.ifname} address {c.mac} netns {c.netns}")
    _batch(host, p.host_netns)
    for c in p.containers:
        _batch(["link set lo up", f"link set {c.ifname} addrgenmode none", f"link set {c.ifname} up",
                f"addr add {c.ipv4} dev {c.ifname}", f"addr add {c.ipv6} dev {c.ifname} nodad"], c.netns)
    _batch([f"link set {br.name} up" for br in p.bridges[1:]]
           + [f"link set {BRIDGE} up type bridge mcast_querier 1"], p.host_netns)
    _sysctl(p.host_netns, "net/ipv6/conf/default/disable_ipv6", "0")


def ip_batch_down(name: str, containers: int) -> None:
    p = plan(LabSpec(name, containers, 0, 7))
    _batch([f"netns del {c.netns}" for c in p.containers] + [f"netns del {p.host_netns}"])


def netns_cleanup_wait(max_wait: float = 300.0) -> float:
    """Wait while the kernel still deletes namespaces (a kworker runs the netns workqueue); the seconds waited.

    ``lab down`` returns once the namespaces are unpinned; the kernel then takes
    minutes to delete 5,000 of them, under the rtnl lock, and the next lab up
    measured meanwhile would pay for it (a keeper blocked behind the cleanup).
    """
    t0 = time.monotonic()
    quiet = 0
    while quiet < 3 and time.monotonic() - t0 < max_wait:
        busy = False
        for e in os.scandir("/proc"):
            if e.name.isdigit():
                try:
                    with open(f"/proc/{e.name}/comm") as f:
                        comm = f.read().strip()
                except OSError:
                    continue
                if comm.startswith("kworker/") and comm.endswith("+netns"):
                    busy = True
                    break
        quiet = 0 if busy else quiet + 1
        time.sleep(0.5)
    return time.monotonic() - t0


def _cli(*args: str) -> float:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "vnet_tui", "lab", *args], capture_output=True, text=True)
    took = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"vnet-tui lab {' '.join(args)} exited {r.returncode}: {r.stderr.strip()[-500:]}")
    return took


def figures(s: Session, containers: int, repeat: int, baseline_repeat: int, settle: Callable[[], float],
            log: Callable[[str], None]) -> list[Figure]:
    ups, downs = [], []
    for _ in range(max(1, repeat)):
        name = s.new_lab_name("l")
        settle()
        ups.append(_cli("up", name, "--containers", str(containers), "--vms", "0"))
        settle()
        downs.append(_cli("down", name))
        s.labs.remove(name)
        log(f"  lab up {ups[-1]:.2f} s, down {downs[-1]:.2f} s"
            f" (then the kernel deleted the namespaces for {netns_cleanup_wait():.0f} s)")
    b_ups, b_downs = [], []
    for _ in range(max(1, baseline_repeat)):
        name = s.new_lab_name("i")
        settle()
        t0 = time.perf_counter()
        ip_batch_up(name, containers)
        b_ups.append(time.perf_counter() - t0)
        settle()
        t0 = time.perf_counter()
        ip_batch_down(name, containers)
        b_downs.append(time.perf_counter() - t0)
        s.lab_down(name)  # nothing left, or whatever a failure left
        log(f"  ip -batch up {b_ups[-1]:.2f} s, down {b_downs[-1]:.2f} s"
            f" (then the kernel deleted the namespaces for {netns_cleanup_wait():.0f} s)")
    up_s, down_s = targets(containers)
    nb = len(plan(LabSpec("x", containers, 0)).bridges)
    on = f", {nb} bridges" if nb > 1 else ""
    up_fig = Figure("lab_up", f"lab up, {containers} containers{on} (CLI, wall)", median(ups), "s", up_s,
                    f"≤ {up_s:g} s", samples=ups)
    down_fig = Figure("lab_down", f"lab down, {containers} containers{on} (CLI, wall)", median(downs), "s",
                      down_s, f"≤ {down_s:g} s", samples=downs)
    for fig, vals in ((up_fig, b_ups), (down_fig, b_downs)):
        b = Baseline("ip -batch, same network (no holder processes)", median(vals), "s",
                     samples=vals)
        fig.ratio_against(b)
        fig.baselines = [b]
    return [up_fig, down_fig]
