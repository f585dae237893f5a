"""One end's state as a snapshot: read it from the kernel and compare it.

The snapshot holds what an edit can change and a rollback must restore:
MAC, MTU, admin state, addresses, master, the routes through the
interface, proxy ARP/NDP, IPv6 on/off and the alias.  ``converge.py``
turns "now" and "wanted" into steps; ``differences`` says what a re-read
shows that was not asked for.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Optional

from pyroute2.netlink.exceptions import NetlinkError

from vnet_tui.net import rawread
from vnet_tui.net.change import ChangeNs

RT_TABLE_MAIN, RT_TABLE_LOCAL, RTN_UNICAST, RTPROT_KERNEL = 254, 255, 1, 2
IFA_F_TENTATIVE, IFA_F_DADFAILED = 0x40, 0x08
DAD_WAIT = 2.0  # seconds to wait for IPv6 duplicate address detection


@dataclass
class EndSnapshot:
    """What one interface looks like; addresses exclude IPv6 link-local ones."""

    ifname: str
    kind: str = "veth"
    mac: Optional[str] = None
    mtu: int = 1500
    up: bool = False
    addresses: list[str] = field(default_factory=list)
    master: Optional[str] = None
    routes: list[dict[str, Any]] = field(default_factory=list)  # {"dst", "gateway", "table", "metric"}
    proxy_arp: Optional[str] = None
    proxy_ndp: Optional[str] = None
    alias: Optional[str] = None
    ifindex: int = 0
    ipv6_disabled: Optional[str] = None  # net.ipv6.conf.IF.disable_ipv6 ("0"/"1"; None: leave alone)
    # net.ipv6.conf.IF.addr_gen_mode ("0" eui64, "1" none: no link-local…; None: leave alone): an end
    # re-made by an undo or a rollback gets it back before it comes up, or the kernel gives it a link-local
    addr_gen_mode: Optional[str] = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "EndSnapshot":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    def has_ipv6(self) -> bool:
        return any(":" in a for a in self.addresses)


def _route(r: Any) -> Optional[dict[str, Any]]:
    """A route worth restoring: unicast, not the kernel's own, not table local."""
    if r["type"] != RTN_UNICAST or r["proto"] == RTPROT_KERNEL:
        return None
    table = r.get("table") or r["table"]
    if table == RT_TABLE_LOCAL or r.get("multipath"):
        return None
    fam = 4 if r["family"] == socket.AF_INET else 6
    dst = r.get("dst") or ("0.0.0.0" if fam == 4 else "::")
    net = f"{dst}/{r['dst_len']}"
    if fam == 6 and ipaddress.ip_network(net, strict=False).is_link_local:
        return None
    return {"dst": net, "gateway": r.get("gateway"), "table": table, "metric": r.get("priority")}


def read_end(ns: ChangeNs, ifname: Optional[str] = None, index: Optional[int] = None) -> Optional[EndSnapshot]:
    """The interface's state now; None if it does not exist.

    Read with raw rtnetlink (``rawread``: one request each for the link, its
    master, its addresses and its routes per family; the link's own sysctls
    come in its message, ``rtnl.devconf``); through pyroute2 if that fails
    for any reason but the interface being gone (then the sysctls from /proc/sys).
    """
    try:
        got = _read_raw(ns, ifname, index)
    except rawread.RawReadError:
        got = _read_pyroute2(ns, ifname, index)
    if got is None:
        return None
    link, index, master_name, addrs, routes = got
    name = link["ifname"]
    conf = link.get("conf")
    if conf is None:  # read through pyroute2: the four sysctls in one visit to the namespace
        conf = ns.sysctl_read_many(
            [f"ipv4/conf/{name}/proxy_arp", f"ipv6/conf/{name}/proxy_ndp", f"ipv6/conf/{name}/disable_ipv6",
             f"ipv6/conf/{name}/addr_gen_mode"]
        )
    proxy_arp, proxy_ndp, ipv6_disabled, addr_gen_mode = conf
    return EndSnapshot(
        ifname=name,
        kind=link["kind"] or "device",
        mac=link["mac"],
        mtu=link["mtu"],
        up=bool(link["flags"] & 1),
        addresses=sorted(addrs),
        master=master_name,
        routes=sorted(routes, key=lambda r: (r["dst"], str(r["gateway"]), r["table"])),
        proxy_arp=proxy_arp,
        proxy_ndp=proxy_ndp,
        alias=link["alias"],
        ifindex=index,
        ipv6_disabled=ipv6_disabled,
        addr_gen_mode=addr_gen_mode,
    )


_Read = tuple[dict[str, Any], int, Optional[str], list[str], list[dict[str, Any]]]


def _keep_addr(family: int, text: str) -> bool:
    return not (family == socket.AF_INET6 and ipaddress.ip_interface(text).is_link_local)


def _read_raw(ns: ChangeNs, ifname: Optional[str], index: Optional[int]) -> Optional[_Read]:
    s = ns.raw()
    link = rawread.get_link(s, index=index) if index is not None else rawread.get_link(s, ifname=ifname)
    if link is None:
        return None
    index = link.index
    master_name = None
    if link.master:
        m = rawread.get_link(s, index=link.master)
        master_name = m.ifname if m is not None else None
    addrs = [t for fam, plen, a in rawread.addrs(s, index) if _keep_addr(fam, t := f"{a}/{plen}")]
    routes = []
    for fam in (socket.AF_INET, socket.AF_INET6):
        for r in rawread.routes(s, fam, index):
            msg = {
                "type": r.type,
                "proto": r.proto,
                "table": r.table,
                "multipath": r.multipath or None,
                "family": r.family,
                "dst": r.dst,
                "dst_len": r.dst_len,
                "gateway": r.gateway,
                "priority": r.priority,
            }
            if (spec := _route(msg)) is not None:
                routes.append(spec)
    fields = {
        "ifname": link.ifname,
        "kind": link.kind,
        "mac": link.mac,
        "mtu": link.mtu,
        "flags": link.flags,
        "alias": link.alias,
        "conf": link.conf,  # the link message's own sysctls: no visit to /proc/sys
    }
    return fields, index, master_name, addrs, routes


def _read_pyroute2(ns: ChangeNs, ifname: Optional[str], index: Optional[int]) -> Optional[_Read]:
    ipr = ns.ipr
    if index is None:
        # one RTM_GETLINK by name (not a lookup for the index, then a get by it)
        try:
            link = ipr.link("get", ifname=ifname)[0]
            index = int(link["index"])
        except (NetlinkError, KeyError, IndexError):
            return None
    else:
        try:
            link = ipr.link("get", index=index)[0]
        except Exception:
            return None
    master = link.get("master")
    master_name = None
    if master:
        try:
            master_name = ipr.link("get", index=master)[0].get("ifname")
        except Exception:
            master_name = None
    # one interface's addresses and routes, filtered by the kernel (not the namespace's all)
    addrs = []
    for a in ns.addr_dump(index):
        text = f"{a.get('address')}/{a['prefixlen']}"
        if _keep_addr(a["family"], text):
            addrs.append(text)
    routes = []
    for fam in (socket.AF_INET, socket.AF_INET6):
        for r in ns.route_dump(fam, index):
            if r.get("oif") == index and (spec := _route(r)) is not None:
                routes.append(spec)
    fields = {
        "ifname": link.get("ifname"),
        "kind": link.get(("linkinfo", "kind")),
        "mac": link.get("address"),
        "mtu": link.get("mtu"),
        "flags": link["flags"],
        "alias": link.get("ifalias"),
    }
    return fields, index, master_name, addrs, routes


def wait_dad(ns: ChangeNs, index: int) -> list[str]:
    """Wait briefly for IPv6 DAD on a link; report ``dadfailed`` addresses (as warnings)."""
    deadline = time.monotonic() + DAD_WAIT
    while True:
        addrs = [a for a in ns.addr_dump(index) if a["family"] == socket.AF_INET6]
        flags = {a.get("address"): a.get("IFA_FLAGS") or a["flags"] for a in addrs}
        failed = [a for a, f in flags.items() if f & IFA_F_DADFAILED]
        if failed:
            return [
                f"IPv6 {a}: duplicate address detection failed (dadfailed): another host uses it"
                for a in failed
            ]
        if not any(f & IFA_F_TENTATIVE for f in flags.values()) or time.monotonic() > deadline:
            return []
        time.sleep(0.05)


def keeps_ipv6_on_down(ns: ChangeNs, ifname: str) -> bool:
    """Whether the kernel keeps static IPv6 addresses when the link goes down."""
    vals = [ns.sysctl_read(f"ipv6/conf/{n}/keep_addr_on_down") for n in ("all", ifname)]
    return any(v not in (None, "0") and not v.startswith("-") for v in vals)


def differences(want: EndSnapshot, got: Optional[EndSnapshot]) -> list[str]:
    """What in ``got`` is not as in ``want`` (empty: equal)."""
    if got is None:
        return [f"{want.ifname} does not exist"]
    out = []
    for f in ("ifname", "mac", "mtu", "up", "master", "proxy_arp", "proxy_ndp", "alias", "ipv6_disabled",
              "addr_gen_mode"):
        w, g = getattr(want, f), getattr(got, f)
        if f in ("proxy_arp", "proxy_ndp", "ipv6_disabled", "addr_gen_mode") and w is None:
            continue
        if w != g:
            out.append(f"{want.ifname}: {f} is {g!r}, expected {w!r}")
    if set(want.addresses) != set(got.addresses):
        out.append(f"{want.ifname}: addresses are {sorted(got.addresses)}, expected {sorted(want.addresses)}")
    key = lambda r: (r["dst"], r["gateway"], r["table"], r.get("metric"))  # noqa: E731
    if {key(r) for r in want.routes} != {key(r) for r in got.routes}:
        out.append(f"{want.ifname}: routes differ from what was expected")
    return out


def without_ipv6(s: EndSnapshot) -> EndSnapshot:
    """``s`` as the kernel leaves it after going down (static IPv6 addresses flushed)."""
    return replace(
        s,
        addresses=[a for a in s.addresses if ":" not in a],
        routes=[r for r in s.routes if ":" not in r["dst"]],
    )
