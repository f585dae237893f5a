"""Input rules from SAFETY.md, checked before any netlink call.

Each refusal is an ``InvalidInput`` (exit 2) whose ``rule`` names the rule;
things that are allowed but worth knowing are appended to ``warnings``.
The functions are pure: they look only at their arguments (facts come
from the discovered topology, see ``facts.py``).

Rules: ifname, ifname-reserved, ifname-taken, mac-syntax, mac-zero, mac-multicast,
mac-broadcast, mac-duplicate (warning: mac-vendor), ip-syntax,
ip-scope-id, ip-prefix-zero, ipv4-prefix, ipv4-network-address, ipv4-broadcast-address, ipv4-reserved,
ipv6-prefix, ipv6-unspecified, ipv6-multicast, ipv6-loopback,
ipv6-link-local, ipv6-ipv4-mapped, ipv6-network-address, ip-repeated,
ip-exists, ip-duplicate (the address anywhere else on the server), ip-absent
(warning: ip-overlap), mtu, mtu-ipv6 (warning: mtu-mismatch), bridge-or-routed, routed-needs-ip, vm-ip, vm-routed,
nothing-to-change.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Iterable, Optional, Union

from vnet_tui.core.errors import InvalidInput

from .index import NOBODY, AddressBook

IFNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,14}")  # fullmatch: "$" would let "eth1\n" through
RESERVED_IFNAMES = ("all", "default")  # /proc/sys/net/*/conf/{all,default}: the kernel refuses them
IPV6_MIN_MTU = 1280
MAC_COLON = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
MAC_DASH = re.compile(r"^[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){5}$")
VIRTUOZZO_OUI = "c4:37:72"
MTU_MAX = {"veth": 65535, "tun": 65521, "tap": 65521}
MTU_MIN = 68
V4_RESERVED = [ipaddress.ip_network(n) for n in ("0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4")]

IfaceAddr = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]


def bad(rule: str, message: str) -> InvalidInput:
    return InvalidInput(message, rule=rule)


# -- interface names --------------------------------------------------------
def ifname(name: str, what: str = "interface name") -> str:
    """1–15 bytes of ``[A-Za-z0-9_.-]``, starting with a letter or digit."""
    if not isinstance(name, str) or not IFNAME.fullmatch(name) or len(name.encode()) > 15:
        raise bad(
            "ifname",
            f"{what} {name!r}: use 1–15 characters of A–Z a–z 0–9 _ . -, starting with a letter or digit",
        )
    if name.lower() in RESERVED_IFNAMES:
        raise bad("ifname-reserved", f"{what} {name!r} is reserved by the kernel (its sysctl directories)")
    return name


def ifname_free(name: str, taken: Iterable[str], where: str) -> str:
    """The name must not exist in the namespace where it will live."""
    if name in set(taken):
        raise bad("ifname-taken", f"interface name {name!r} already exists in {where}")
    return name


# -- MACs ------------------------------------------------------------------
def mac_syntax(text: str) -> str:
    """Six octets separated by ``:`` or ``-`` (one style); returned lower-case with ``:``."""
    t = (text or "").strip()
    if not (MAC_COLON.match(t) or MAC_DASH.match(t)):
        raise bad(
            "mac-syntax",
            f"MAC {text!r}: six hex octets separated by ':' or '-' (one style), e.g. c4:37:72:12:34:56",
        )
    return t.replace("-", ":").lower()


def mac(text: str, taken: dict[str, str], warnings: list[str], own: Optional[str] = None) -> str:
    """A MAC typed by hand: syntax, not zero/multicast/broadcast, unused on the server.

    ``taken`` maps every MAC on the server to where it is; ``own`` is the
    interface's current MAC (setting it again is not a duplicate).
    """
    m = mac_syntax(text)
    first = int(m[:2], 16)
    if m == "ff:ff:ff:ff:ff:ff":
        raise bad("mac-broadcast", f"MAC {m} is the broadcast address")
    if m == "00:00:00:00:00:00":
        raise bad("mac-zero", "MAC 00:00:00:00:00:00 is not a usable address")
    if first & 1:
        raise bad("mac-multicast", f"MAC {m} has the multicast bit set (first octet must be even)")
    if m != own and m in taken:
        raise bad("mac-duplicate", f"MAC {m} is already used by {taken[m]}")
    if not first & 2 and not m.startswith(VIRTUOZZO_OUI):
        warnings.append(
            f"MAC {m} is a vendor (globally administered) address; "
            "make sure no real device uses it [mac-vendor]"
        )
    return m


# -- IP addresses -------------------------------------------------------------
def ip(text: str) -> IfaceAddr:
    """One ``address/prefix`` checked against the IPv4 and IPv6 rules."""
    t = (text or "").strip() if isinstance(text, str) else ""
    addr, slash, plen = t.partition("/")
    if "%" in addr:
        raise bad("ip-scope-id", f"address {text!r}: a scope id (%IFNAME) has no place here; give address/prefix")
    if not slash or not (plen.isascii() and plen.isdigit()) or not addr.isascii() or len(plen) > 3:
        raise bad(
            "ip-syntax", f"address {text!r}: give address/prefix, e.g. 198.18.5.1/24 or fd00:5654::5/64"
        )
    try:
        a = ipaddress.ip_address(addr)
    except ValueError:
        raise bad("ip-syntax", f"address {text!r} is not an IPv4 or IPv6 address") from None
    n = int(plen)
    if n == 0:
        raise bad("ip-prefix-zero", f"{text}: a /0 prefix would make every destination on-link (a default route)")
    if a.version == 4:
        if n > 32:
            raise bad("ipv4-prefix", f"{text}: an IPv4 prefix is 1–32")
        iface: IfaceAddr = ipaddress.IPv4Interface(f"{a}/{n}")
        if any(a in net for net in V4_RESERVED):
            raise bad("ipv4-reserved", f"{text}: 0/8, 127/8, 224/4 (multicast) and 240/4 are not usable")
        if n <= 30 and a == iface.network.network_address:
            raise bad("ipv4-network-address", f"{text} is the network address of {iface.network}")
        if n <= 30 and a == iface.network.broadcast_address:
            raise bad("ipv4-broadcast-address", f"{text} is the broadcast address of {iface.network}")
        return iface
    assert isinstance(a, ipaddress.IPv6Address)
    if n > 128:
        raise bad("ipv6-prefix", f"{text}: an IPv6 prefix is 1–128")
    if a.is_unspecified:
        raise bad("ipv6-unspecified", f"{text}: :: is not an address")
    if a.is_multicast:
        raise bad("ipv6-multicast", f"{text}: multicast (ff00::/8) cannot be an interface address")
    if a.is_loopback:
        raise bad("ipv6-loopback", f"{text}: ::1 belongs to the loopback interface")
    if a.is_link_local:
        raise bad("ipv6-link-local", f"{text}: link-local (fe80::/10) addresses are made by the kernel per link")
    if a.ipv4_mapped is not None or (int(a) >> 32 == 0):
        raise bad(
            "ipv6-ipv4-mapped",
            f"{text}: an IPv4-mapped or IPv4-compatible IPv6 address; give the IPv4 address itself",
        )
    iface6 = ipaddress.IPv6Interface(f"{a}/{n}")
    if n <= 126 and a == iface6.network.network_address:
        raise bad("ipv6-network-address", f"{text} is the subnet-router anycast address of {iface6.network}")
    return iface6


def ips_to_add(
    texts: Iterable[str],
    on_iface: Iterable[str],
    elsewhere: Union[list[tuple[str, str, str]], "AddressBook"],
    warnings: list[str],
    ns: str = "",
    skip: Optional[object] = None,
) -> list[str]:
    """Addresses to add to one interface: valid, not repeated, not already there.

    ``elsewhere`` lists (address/prefix, namespace key, where) on other
    interfaces, or is the server's AddressBook (ops/index.py) with
    ``skip`` the interface being edited.  The same address anywhere on
    the server, or an overlapping network in the same namespace (``ns``),
    is a warning (ip-overlap); a shared subnet across namespaces is what a
    bridge is for.
    """
    have = {str(ipaddress.ip_interface(c).ip) for c in on_iface}
    out: list[str] = []
    seen: set[str] = set()
    wanted: list[IfaceAddr] = []
    for t in texts:
        i = ip(t)
        if str(i.ip) in seen:
            raise bad("ip-repeated", f"{i.ip} is given twice")
        seen.add(str(i.ip))
        if str(i.ip) in have:
            raise bad("ip-exists", f"{i.ip} is already on this interface")
        wanted.append(i)
    if not wanted:
        return out
    # the book keys each address by its packed form (inet_pton normalises any spelling) and
    # parses as networks only those in the same namespace (the overlap rule); warnings keep
    # the list's order
    book = elsewhere if isinstance(elsewhere, AddressBook) else AddressBook([(*e, NOBODY) for e in elsewhere])
    local = book.in_namespace(ns, skip)
    for i in wanted:
        used = book.same(i.ip.packed, skip)
        if used:
            raise bad("ip-duplicate", f"{i.ip} is already used on {used[0][1]}: an address is used once per server")
        found = [
            (n, f"{i.with_prefixlen} overlaps {other} on {where} in the same namespace [ip-overlap]")
            for n, o, other, where in local
            if o.version == i.version and o.ip != i.ip and o.network.overlaps(i.network)
        ]
        warnings += [w for _, w in sorted(found)]
        out.append(i.with_prefixlen)
    return out


def ips_to_delete(texts: Iterable[str], on_iface: Iterable[str]) -> list[str]:
    """Addresses to remove: each must be on the interface (prefix may be omitted)."""
    have = {str(ipaddress.ip_interface(c).ip): c for c in on_iface}
    out = []
    for t in texts:
        addr = t.strip().split("/")[0]
        try:
            key = str(ipaddress.ip_address(addr))
        except ValueError:
            raise bad("ip-syntax", f"address {t!r} is not an IPv4 or IPv6 address") from None
        if key not in have:
            raise bad("ip-absent", f"{t} is not on this interface")
        if "/" in t and ipaddress.ip_interface(t.strip()).with_prefixlen != have[key]:
            raise bad("ip-absent", f"{t} is not on this interface (it has {have[key]})")
        out.append(have[key])
    return out


# -- MTU --------------------------------------------------------------------
def mtu(value: int, kind: str, ipv6_in_use: bool, warnings: list[str]) -> int:
    """veth 68–65535, tap 68–65521; below 1280 IPv6 cannot run on the link (rule mtu-ipv6)."""
    hi = MTU_MAX.get(kind, 65535)
    if isinstance(value, bool) or not isinstance(value, int) or not MTU_MIN <= value <= hi:
        raise bad("mtu", f"MTU {value}: a {kind} takes {MTU_MIN}–{hi}")
    if value < IPV6_MIN_MTU and ipv6_in_use:
        raise bad(
            "mtu-ipv6",
            f"MTU {value} is below 1280, the least IPv6 runs on, and the link has or gets IPv6 addresses: "
            "remove them first or keep the MTU at 1280 or more",
        )
    return value


def mtu_pair(mtu: Optional[int], peer_mtu: Optional[int], peer: str, warnings: list[str]) -> None:
    """Warn when the two ends of a pair would differ in MTU (frames the smaller end cannot take)."""
    if mtu and peer_mtu and mtu != peer_mtu:
        warnings.append(
            f"MTU {mtu} differs from the other end's ({peer}: {peer_mtu}); frames larger than the "
            "smaller MTU are dropped [mtu-mismatch]"
        )


# -- combinations ---------------------------------------------------------------
def placement(bridge: Optional[str], routed: bool, ips: list[str]) -> None:
    """--bridge and --routed exclude each other; routed needs addresses to route."""
    if bridge and routed:
        raise bad("bridge-or-routed", "choose --bridge BR or --routed, not both")
    if routed and not ips:
        raise bad("routed-needs-ip", "--routed needs at least one --ip to route to the container")


def vm_adapter_options(ips: list[str], routed: bool) -> None:
    """A VM's addresses are configured inside the guest, not from the host."""
    if ips:
        raise bad("vm-ip", "a VM adapter's addresses are set inside the guest; --ip is for containers")
    if routed:
        raise bad("vm-routed", "--routed is for container adapters; put a VM adapter on a bridge")


def something(changes: dict[str, object]) -> None:
    if not any(v not in (None, [], False) for v in changes.values()):
        raise bad(
            "nothing-to-change",
            "nothing to change: give --mac, --add-ip, --del-ip, --mtu, --up/--down or --bridge/--no-bridge",
        )
