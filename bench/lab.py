"""``lab up`` / ``lab down`` of N containers, beside ``ip -batch`` building the same network.

Ours: the CLI, ``vnet-tui lab up NAME --containers N --vms 0`` and
``vnet-tui lab down NAME``, wall time of each command (it also starts a
holder process per container, which the baseline does not).

Baseline, same names, MACs and addresses (lab.names.plan): one
``ip -batch`` making the namespaces; one ``ip -n HOST -batch`` making the
bridge and every veth (peer already in its container, on the bridge, up);
one ``ip -n CT -batch`` per container (lo and eth0 up, IPv4, IPv6) — a
batch cannot switch namespaces.  Down: one ``ip -batch`` of ``netns del``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Callable

from vnet_tui.lab import LabSpec, plan
from vnet_tui.lab.names import BRIDGE, BRIDGE_IPV4, BRIDGE_IPV6

from .common import IP, Baseline, Figure, median
from .session import Session

UP_S, DOWN_S = 10.0, 3.0


def _batch(lines: list[str], netns: str | None = None) -> None:
    argv = [IP] + (["-n", netns] if netns else []) + ["-batch", "-"]
    r = subprocess.run(argv, input="\n".join(lines) + "\n", capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"ip -batch failed: {r.stderr.strip()[:500]}")


def ip_batch_up(name: str, containers: int) -> None:
    p = plan(LabSpec(name, containers, 0, 7))
    _batch([f"netns add {p.host_netns}"] + [f"netns add {c.netns}" for c in p.containers])
    host = [f"link add {BRIDGE} address {p.bridge_mac} type bridge", f"link set {BRIDGE} up",
            f"addr add {BRIDGE_IPV4} dev {BRIDGE}", f"addr add {BRIDGE_IPV6} dev {BRIDGE}"]
    for c in p.containers:
        host.append(f"link add {c.host_ifname} address {c.host_mac} master {BRIDGE} up type veth "
                    f"peer name {c.ifname} address {c.mac} netns {c.netns}")
    _batch(host, p.host_netns)
    for c in p.containers:
        _batch(["link set lo up", f"link set {c.ifname} up", f"addr add {c.ipv4} dev {c.ifname}",
                f"addr add {c.ipv6} dev {c.ifname}"], c.netns)


def ip_batch_down(name: str, containers: int) -> None:
    p = plan(LabSpec(name, containers, 0, 7))
    _batch([f"netns del {c.netns}" for c in p.containers] + [f"netns del {p.host_netns}"])


def _cli(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vnet_tui", "lab", *args], check=True, capture_output=True, text=True)
    return time.perf_counter() - t0


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
        log(f"  lab up {ups[-1]:.2f} s, down {downs[-1]:.2f} s")
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
        log(f"  ip -batch up {b_ups[-1]:.2f} s, down {b_downs[-1]:.2f} s")
    up_fig = Figure("lab_up", f"lab up, {containers} containers (CLI, wall)", median(ups), "s", UP_S, f"≤ {UP_S:g} s",
                    samples=ups)
    down_fig = Figure("lab_down", f"lab down, {containers} containers (CLI, wall)", median(downs), "s", DOWN_S,
                      f"≤ {DOWN_S:g} s", samples=downs)
    for fig, vals in ((up_fig, b_ups), (down_fig, b_downs)):
        b = Baseline("ip -batch, same network (no holder processes)", median(vals), "s",
                     samples=vals)
        fig.ratio_against(b)
        fig.baselines = [b]
    return [up_fig, down_fig]
