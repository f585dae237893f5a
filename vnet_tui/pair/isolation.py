"""The isolation test: frames the host end's isolation flags forbid are held back before the guest end.

    result = run_pair_test(Server(lab="x"), "ct101", "eth0", isolation=True, frames=1000)

``adapter set CT IF --isolated on`` sets two flags on the host end's
bridge port (policy/isolate.py), and the kernel's bridge
(``br_forward.c``) applies them at different places:

- ``isolated``: a frame that came in on an isolated port is not
  delivered to another isolated port — known unicast or flooded alike.
  From a port that is *not* isolated it still is.
- ``flood off`` (``unicast_flood``): a frame to a unicast MAC the FDB does
  not know, flooded to every port, skips this one — whoever sent it.
  Broadcast and multicast have flags of their own, which isolation leaves
  on: an isolated guest still gets ARP requests and DHCP offers.

So each kind of frame below is stopped by exactly one flag.  Two probe
ports (pair/probeport.py) are added to the host end's bridge for the
test, inside the host end's namespace: *open*, a neighbour as any guest's
port is, and *isolated*, a neighbour as another isolated guest's is.
``frames`` of each kind are sent toward the adapter, interleaved:

==================  ==============  ===========================  ============================
kind                from            to                           held back by (only)
==================  ==============  ===========================  ============================
unknown-unicast     open probe      a MAC no FDB knows           ``flood off`` on the host end
isolated-unicast    isolated probe  the guest end's MAC (known)  ``isolated`` on the host end
isolated-broadcast  isolated probe  ff:ff:ff:ff:ff:ff            ``isolated`` on the host end
open-broadcast      open probe      ff:ff:ff:ff:ff:ff            nothing: the control
==================  ==============  ===========================  ============================

``isolated-unicast`` needs the FDB to know the guest's MAC on the host
end's port (otherwise the frame is flooded and ``flood`` would judge it
too): one frame from the guest end to the nearest-bridge group, which the
bridge learns from and passes to no other port, teaches it, and the FDB
is read back; where it still does not know it (learning off), that kind is
skipped and says why.  ``open-broadcast`` must arrive however the flags
are: it shows the way to the guest is open, so what the other kinds lack
was held back, not lost.

A capture socket on the guest end (in the container's namespace) counts
each kind's frames (EtherType 0x88b5, tagged with the run), and the flags
are read from the kernel (policy.read) with the result.  ``status``:
``ok`` when no frame of the three held kinds arrived and every control
did; ``got-past`` when some of them arrived (the flags are off — or on
and did not hold): the message names ``adapter set … --isolated on``;
``lost`` when control frames did not arrive (the test then proves
nothing).  The mirror check names what was held back as ``policy``: the
bridge held it before the host end, so it is in neither end's counters.

While it runs the probe ports are ordinary bridge ports: broadcasts and
unknown unicast reach the lab's other ports too (0x88b5 frames, which no
guest handles).  The test runs only on a lab's bridge, and the probes are
removed however it ends (``finally``: an error, Ctrl-C).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Optional

from vnet_tui.core.errors import InvalidInput, VnetError
from vnet_tui.core.readable import readable

from . import framing, sockets
from .counters import netlink_counters
from .ends import Pair
from .hostpolicy import read_host
from .isokinds import BROADCAST, KINDS, LEARN_CODE, capture_filter, frame, judge, parse
from .probeport import ProbePorts, fdb_has, fdb_port
from .result import OnTrace, TraceEvent
from .spoof import _send

BATCH = 8  # rounds (one frame of each kind) sent before waiting for their controls to arrive
STALL = 0.1  # s: with nothing arriving, send on (frames are being lost)
SETTLE = 0.5  # s after the last frame for stragglers
LEARN_TIMEOUT = 2.0  # s for the bridge to learn the guest's MAC


def check_isolation_target(pair: Pair, lab: Optional[str]) -> int:
    """The host end's bridge ifindex; refuses what the test cannot run on (nothing is changed yet)."""
    if pair.kind != "veth" or pair.guest is None:
        raise InvalidInput(f"{pair.name} is a VM adapter: --isolation counts what arrives at the guest end with a "
                           "capture socket in its namespace, and a VM's NIC is inside its guest: use a container "
                           "adapter", rule="pair-mode-needs-container")
    if not lab:
        raise InvalidInput("--isolation adds two temporary probe ports to the adapter's bridge: vnet-tui does that "
                           "only on a lab's bridge (--lab NAME), never on this machine's own network",
                           rule="isolation-needs-lab")
    pol = read_host(pair.host.fd, pair.host.ifname)
    bp = (pol or {}).get("bridge_port")
    if not bp or not pair.host.iface.master_ifindex:
        raise InvalidInput(f"{pair.host.ifname} is not on a bridge: isolation is a bridge port's setting (a routed "
                           "adapter is isolated already), nothing to test", rule="isolated-not-bridge-port")
    if bp.get("vlan_filtering"):
        raise InvalidInput(f"{pair.host.ifname}'s bridge {bp.get('master')} filters VLANs: a probe port would need "
                           "the adapter's VLANs, which --isolation does not copy", rule="isolation-vlan-bridge")
    return int(pair.host.iface.master_ifindex)


def _flags(pol: Optional[dict[str, Any]]) -> dict[str, Any]:
    bp = (pol or {}).get("bridge_port") or {}
    return {k: bp.get(k) for k in ("master", "isolated", "unicast_flood", "bcast_flood", "mcast_flood", "learning")}


def _unknown_mac(ipr: Any) -> bytes:
    for _ in range(16):
        mac = b"\x02\x56\x4e" + os.urandom(3)  # locally administered, unicast
        if not fdb_has(ipr, framing.mac_text(mac)):
            return mac
    raise VnetError("found no MAC the bridge's FDB does not know", rule="isolation-probe-port", code=1)


def run_isolation_test(pair: Pair, result: dict[str, Any], frames: int, lab: Optional[str], *,
                       on_trace: Optional[OnTrace] = None,
                       cancel: Optional[threading.Event] = None) -> dict[str, Any]:
    """Send ``frames`` of each kind (above) toward the adapter from probe ports on its bridge; count arrivals."""
    bridge_index = check_isolation_target(pair, lab)
    assert pair.guest is not None
    g, h = pair.guest, pair.host
    trace = on_trace or (lambda _e: None)
    run = framing.new_run_id()
    pol0 = read_host(h.fd, h.ifname)
    flags = _flags(pol0)
    guest_mac = framing.mac_bytes(g.iface.mac or "00:00:00:00:00:00")
    sent = {k.name: 0 for k in KINDS}
    arrived = {k.name: 0 for k in KINDS}
    seen: dict[str, set[int]] = {k.name: set() for k in KINDS}  # sequences that arrived (a duplicate counts once)
    cap = sockets.packet_socket(g.fd, g.ifname, g.iface.ifindex, capture_filter(), framing.ETHERTYPE)
    t0 = time.monotonic()
    probes_json: list[dict[str, Any]] = []
    removed: list[str] = []
    left: list[str] = []
    try:
        with ProbePorts(h.fd, bridge_index) as pp:
            bridge_before = pp.bridge_facts()
            known = _learn(pair, pp.ipr, bridge_index, run)
            unknown = _unknown_mac(pp.ipr)
            probes = {"open": pp.add("o", isolated=False), "isolated": pp.add("i", isolated=True)}
            txs = {role: sockets.packet_socket(h.fd, p.send_side, p.send_index) for role, p in probes.items()}
            kinds = [k for k in KINDS if k.to != "guest" or known]
            dst = {"unknown": unknown, "guest": guest_mac, "broadcast": BROADCAST}
            c0 = {role: netlink_counters(h.fd, p.bridge_index) for role, p in probes.items()}
            g0, h0 = netlink_counters(g.fd, g.iface.ifindex), netlink_counters(h.fd, h.iface.ifindex)
            trace(TraceEvent("start", text=f"probe ports {probes['open'].bridge_side} (open) and "
                                           f"{probes['isolated'].bridge_side} (isolated) on {pp.bridge} → "
                                           f"{g.label}: {frames:,} frames of each of {len(kinds)} kinds"))

            def drain() -> bool:
                got = False
                for data, _ts in sockets.received(cap):
                    m = parse(data, run)
                    k = next((k for k in kinds if m is not None and k.code == m[0]), None)
                    if k is not None and m is not None and m[1] not in seen[k.name]:
                        seen[k.name].add(m[1])
                        arrived[k.name] += 1
                        got = True
                        trace(TraceEvent("arrived", m[1] if m else -1, None, sum(sent.values()),
                                         sum(arrived.values()), k.name))
                return got

            try:
                while sent["open-broadcast"] < frames and not (cancel is not None and cancel.is_set()):
                    for _ in range(min(BATCH, frames - sent["open-broadcast"])):
                        for k in kinds:
                            p = probes[k.probe]
                            _send(txs[k.probe], frame(dst[k.to], framing.mac_bytes(p.mac), run, k.code, sent[k.name]))
                            sent[k.name] += 1
                    trace(TraceEvent("sent", sum(sent.values()) - 1, None, sum(sent.values()), sum(arrived.values())))
                    # the next batch when this one's controls are in (or stopped coming): every frame fans out
                    # to each bridge port, and a burst overflowing the receive backlog is frames lost on the way
                    last = time.monotonic()
                    while arrived["open-broadcast"] < sent["open-broadcast"] and time.monotonic() - last < STALL:
                        if readable(cap, 0.01) and drain():
                            last = time.monotonic()
                    drain()
                deadline = time.monotonic() + SETTLE
                while time.monotonic() < deadline:
                    if readable(cap, 0.05):
                        drain()
                drain()
            except OSError as e:
                raise VnetError(f"sending from a probe port failed: {e.strerror or e}", rule="pair-send",
                                code=1) from e
            finally:
                for tx in txs.values():
                    tx.close()
            c1 = {role: netlink_counters(h.fd, p.bridge_index) for role, p in probes.items()}
            g1, h1 = netlink_counters(g.fd, g.iface.ifindex), netlink_counters(h.fd, h.iface.ifindex)
            for role, p in probes.items():
                a, b = c1[role], c0[role]
                probes_json.append({"name": p.bridge_side, "sender": p.send_side, "isolated": p.isolated,
                                    "mac": p.mac, "flags": p.flags, "entered_bridge": (a.rx_packets - b.rx_packets) if a and b else None})
            bridge_after = pp.bridge_facts()
            removed = list(pp.made)
        left = pp.left
    finally:
        capture_drops = sockets.capture_drops(cap)
        cap.close()
    if left:
        raise VnetError(f"probe ports {', '.join(left)} could not be removed from {h.where}: remove them with "
                        f"ip link del", rule="isolation-probe-port", code=1)
    result["lost_seqs"] = [i for i in range(sent["open-broadcast"]) if i not in seen["open-broadcast"]][:100]
    return judge(pair, result, flags, kinds, sent, arrived, known, unknown, probes_json, removed, bridge_before,
                  bridge_after, (g0, g1, h0, h1), capture_drops, time.monotonic() - t0, frames, cancel, trace)


def _learn(pair: Pair, ipr: Any, bridge_index: int, run: bytes) -> bool:
    """Teach the bridge the guest's MAC on the host end's port (one link-local frame); True when its FDB has it."""
    assert pair.guest is not None
    g, h = pair.guest, pair.host
    mac = g.iface.mac or ""
    if fdb_port(ipr, bridge_index, mac) == h.iface.ifindex:
        return True
    with sockets.packet_socket(g.fd, g.ifname, g.iface.ifindex) as tx:
        _send(tx, frame(framing.NEAREST_BRIDGE, framing.mac_bytes(mac), run, LEARN_CODE, 0))
    deadline = time.monotonic() + LEARN_TIMEOUT
    while time.monotonic() < deadline:
        if fdb_port(ipr, bridge_index, mac) == h.iface.ifindex:
            return True
        time.sleep(0.05)
    return False

