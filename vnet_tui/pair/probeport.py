"""Temporary probe ports on an adapter's bridge, for the isolation test (``pair.isolation``).

    with ProbePorts(host_fd, bridge_index) as probes:
        open_ = probes.add("o", isolated=False)   # a neighbour port as any guest's would be
        iso = probes.add("i", isolated=True)       # a neighbour port isolated like another isolated guest
        ...                                        # send on open_.send_side / iso.send_side
    # both veth pairs are gone here, whatever happened (an error, Ctrl-C)

A probe is a veth pair made in the host end's namespace — never anywhere
else: ``vniso<4 hex><role>b`` is enslaved to the bridge, its peer
``vniso<4 hex><role>s`` stays outside it, up, for a packet socket to send
from.  Each is made so that adding it changes nothing about the bridge or
its other ports:

- **its MAC** is ``fe:ff:…`` (locally administered), above the bridge's
  own: a bridge whose MAC was not set by hand takes its lowest port's, and
  ours must not become that;
- **its MTU** is the bridge's: a bridge takes its smallest port's MTU;
- **learning off**: the bridge never learns our sources, so the FDB stays
  as it was and an "unknown" destination stays unknown;
- ``isolated`` as the caller asks, every other flag the kernel's default.

Deleting one end of a veth deletes both; ``close`` deletes every probe
this object made (by name, so a pair whose creation was interrupted
half-way goes too) and says which it could not.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Optional

from pyroute2 import IPRoute

from vnet_tui.core.errors import InvalidInput, VnetError
from vnet_tui.net.netns import entered

PREFIX = "vniso"
FORWARDING = 3  # BR_STATE_FORWARDING
READY_TIMEOUT = 10.0  # s for a new port to reach forwarding (no STP: at once; with STP, 2 x forward delay)


@dataclass(frozen=True)
class Probe:
    """One probe port: the bridge-side end and the end frames are sent from."""

    role: str
    bridge_side: str
    bridge_index: int
    send_side: str
    send_index: int
    mac: str  # the send side's (frames carry it as their source)
    isolated: bool
    flags: dict[str, int]  # the bridge side's port flags, read back from the kernel once it forwards


def probe_mac(run: bytes, n: int) -> str:
    return "fe:ff:" + ":".join(f"{b:02x}" for b in run[:3]) + f":{n:02x}"


class ProbePorts:
    """Probe ports on bridge ``bridge_index`` of namespace ``fd``; a context manager that removes them."""

    def __init__(self, fd: int, bridge_index: int) -> None:
        self.fd = fd
        self.bridge_index = bridge_index
        self.run = os.urandom(3)
        self.tag = self.run.hex()[:4]
        self.made: list[str] = []  # bridge-side names, registered before each is asked for
        self.left: list[str] = []  # what close() could not remove
        with entered(fd):
            self.ipr = IPRoute()
        try:
            br = self.ipr.link("get", index=bridge_index)[0]
        except BaseException:
            self.ipr.close()
            raise
        if br.get(("linkinfo", "kind")) != "bridge":
            self.ipr.close()
            raise InvalidInput(f"ifindex {bridge_index} is not a bridge", rule="isolated-not-bridge-port")
        self.bridge = str(br.get("ifname"))
        self.bridge_mac = str(br.get("address"))
        self.mtu = int(br.get("mtu") or 1500)

    def __enter__(self) -> "ProbePorts":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, role: str, isolated: bool) -> Probe:
        """Make probe ``role`` (one letter) on the bridge, up and forwarding."""
        b, s = f"{PREFIX}{self.tag}{role}b", f"{PREFIX}{self.tag}{role}s"
        n = len(self.made) * 2
        bmac, smac = probe_mac(self.run, n), probe_mac(self.run, n + 1)
        if bmac.replace(":", "") <= self.bridge_mac.replace(":", ""):
            raise InvalidInput(f"bridge {self.bridge}'s MAC {self.bridge_mac} is above any probe MAC: a probe port "
                               "could become its address", rule="isolation-bridge-mac")
        self.made.append(b)
        ipr = self.ipr
        ipr.link("add", ifname=b, kind="veth", address=bmac, mtu=self.mtu,
                 peer={"ifname": s, "address": smac, "mtu": self.mtu})
        bi, si = ipr.link_lookup(ifname=b)[0], ipr.link_lookup(ifname=s)[0]
        for name in (b, s):  # no IPv6 of their own: no DAD, router or MLD chatter into the bridge
            self._sysctl(f"ipv6/conf/{name}/disable_ipv6", "1")
        ipr.link("set", index=bi, master=self.bridge_index)
        ipr.brport("set", index=bi, learning=0, isolated=int(isolated))
        ipr.link("set", index=si, state="up")
        ipr.link("set", index=bi, state="up")
        self._wait_forwarding(bi, b)
        flags = {k: v for k, v in brport(ipr, bi).items() if k in ("state", "isolated", "learning")}
        return Probe(role, b, bi, s, si, smac, isolated, flags)

    def _sysctl(self, path: str, value: str) -> None:
        """Write a sysctl of the namespace (/proc/sys/net is the opener's namespace's); no IPv6: nothing to do."""
        try:
            with entered(self.fd):
                with open(f"/proc/sys/net/{path}", "w", encoding="ascii") as f:
                    f.write(value)
        except FileNotFoundError:
            pass

    def _wait_forwarding(self, index: int, name: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        state: Any = None
        while time.monotonic() < deadline:
            state = brport_state(self.ipr, index)
            if state == FORWARDING:
                return
            time.sleep(0.05)
        raise VnetError(f"probe port {name} on {self.bridge} did not reach forwarding (state {state}) in "
                        f"{READY_TIMEOUT:g} s: is STP on?", rule="isolation-probe-port", code=1)

    def bridge_facts(self) -> tuple[str, int]:
        """The bridge's MAC and MTU now (to check a probe changed neither)."""
        br = self.ipr.link("get", index=self.bridge_index)[0]
        return str(br.get("address")), int(br.get("mtu") or 0)

    def close(self) -> None:
        """Delete every probe made (both ends go with the bridge side); ``left`` names what stayed."""
        if self.ipr is None:
            return
        for name in self.made:
            idx = self.ipr.link_lookup(ifname=name)
            if idx:
                try:
                    self.ipr.link("del", index=idx[0])
                except Exception:  # noqa: BLE001 - said in ``left``, and tried for the others
                    pass
            if self.ipr.link_lookup(ifname=name) or self.ipr.link_lookup(ifname=name[:-1] + "s"):
                self.left.append(name)
        self.made.clear()
        self.ipr.close()
        self.ipr = None  # type: ignore[assignment]


def brport(ipr: IPRoute, index: int) -> dict[str, int]:
    """A bridge port's flags as the kernel has them (``{"state": 3, "isolated": 1, "learning": 0, …}``)."""
    msg = ipr.link("get", index=index)[0]
    data = msg.get(("linkinfo", "slave_data"))
    if data is None:
        return {}
    return {k[len("IFLA_BRPORT_"):].lower(): v for k, v in data.get("attrs", []) if isinstance(v, int)}


def brport_state(ipr: IPRoute, index: int) -> Optional[int]:
    """A bridge port's STP state (IFLA_BRPORT_STATE), None when it is no bridge port."""
    return brport(ipr, index).get("state")


def fdb_port(ipr: IPRoute, bridge_index: int, mac: str) -> Optional[int]:
    """The port (ifindex) the bridge's FDB has ``mac`` on, None when it has not learnt it."""
    mac = mac.lower()
    for m in ipr.fdb("dump"):
        if (m.get("NDA_LLADDR") or "").lower() == mac and m.get("NDA_MASTER") == bridge_index:
            return int(m["ifindex"])
    return None


def fdb_has(ipr: IPRoute, mac: str) -> bool:
    mac = mac.lower()
    return any((m.get("NDA_LLADDR") or "").lower() == mac for m in ipr.fdb("dump"))
