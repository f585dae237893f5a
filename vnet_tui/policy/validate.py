"""Input rules for adapter policy: rates, bursts, MACs, address lists, VLAN ids.

Every refusal is an ``InvalidInput`` (exit 2) naming its rule, raised before
any kernel call.  Units follow tc(8) so that what an operator types here
means what it means to ``tc``: ``bit kbit mbit gbit tbit`` are bits per
second (powers of 1000), ``kibit mibit gibit tibit`` powers of 1024, and
``bps kbps mbps gbps`` are *bytes* per second; a bare number is bits per
second.  Sizes: ``b`` (or none) bytes, ``k kb m mb g gb`` powers of 1024,
``kbit mbit gbit`` bits.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Iterable, Optional, Union

from vnet_tui.core.errors import InvalidInput

RATE_MIN = 8_000  # 8 kbit/s: below that tbf and nft's byte limit round to nothing useful
RATE_MAX = 1_000_000_000_000  # 1 tbit/s
BURST_MAX = 1 << 30  # 1 GiB
BURST_SECONDS_MAX = 250  # 2**32 ticks of 64 ns = 274 s
ETH_HLEN = 14
DEFAULT_MTU = 1500
VLAN_MIN, VLAN_MAX = 1, 4094

_RATE_UNITS = {
    "": 1, "bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9, "tbit": 10**12,
    "kibit": 2**10, "mibit": 2**20, "gibit": 2**30, "tibit": 2**40,
    "bps": 8, "kbps": 8 * 10**3, "mbps": 8 * 10**6, "gbps": 8 * 10**9, "tbps": 8 * 10**12,
}
_SIZE_UNITS = {
    "": 1, "b": 1, "k": 2**10, "kb": 2**10, "m": 2**20, "mb": 2**20, "g": 2**30, "gb": 2**30,
    "kbit": 10**3 / 8, "mbit": 10**6 / 8, "gbit": 10**9 / 8,
}
_NUM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")
_MAC = re.compile(r"^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")


def bad(rule: str, message: str) -> InvalidInput:
    return InvalidInput(message, rule=rule)


def rate(value: Union[str, int]) -> int:
    """A rate in bits per second from ``10mbit``, ``1gbit``, ``500kbit``, ``125kbps`` (bytes!) or an int."""
    if isinstance(value, bool):
        raise bad("rate-syntax", f"rate {value!r}: a number with a unit, e.g. 10mbit")
    if isinstance(value, int):
        bps = value
    else:
        m = _NUM.match(str(value).lower())
        if not m or m.group(2) not in _RATE_UNITS:
            raise bad("rate-syntax", f"rate {value!r}: a number with a unit (bit, kbit, mbit, gbit, tbit; "
                      "kibit…; bps/kbps/mbps are BYTES per second), e.g. 10mbit")
        bps = int(float(m.group(1)) * _RATE_UNITS[m.group(2)])
    bps -= bps % 8  # tbf and nft count bytes: whole bytes per second
    if not RATE_MIN <= bps <= RATE_MAX:
        raise bad("rate-range", f"rate {value!r} = {bps} bit/s: must be between 8kbit and 1tbit")
    return bps


def size(value: Union[str, int], what: str = "burst") -> int:
    """A size in bytes from ``32kb``, ``1mb``, ``1514``, ``64kbit`` or an int."""
    if isinstance(value, bool):
        raise bad(f"{what}-syntax", f"{what} {value!r}: a size, e.g. 32kb")
    if isinstance(value, int):
        n = value
    else:
        m = _NUM.match(str(value).lower())
        if not m or m.group(2) not in _SIZE_UNITS:
            raise bad(f"{what}-syntax", f"{what} {value!r}: a size in bytes (b, kb, mb, gb) or bits (kbit, mbit), "
                      "e.g. 32kb")
        n = int(float(m.group(1)) * _SIZE_UNITS[m.group(2)])
    if n > BURST_MAX:
        raise bad(f"{what}-range", f"{what} {value!r} = {n} bytes: at most 1gb")
    return n


def burst(value: Union[str, int, None], bps: int, mtu: int = DEFAULT_MTU) -> int:
    """The burst for ``bps``: as given (at least one full frame), else 10 ms of traffic, at least 10 frames."""
    frame = mtu + ETH_HLEN
    if value is None or value == "":
        return min(BURST_MAX, max(bps // 8 // 100, 10 * frame))
    n = size(value, "burst")
    if n < frame:
        raise bad("burst-too-small", f"burst {value!r} = {n} bytes is less than one full frame "
                  f"({frame} bytes at MTU {mtu}): nothing that size could ever pass")
    if n * 8 / bps > BURST_SECONDS_MAX:
        raise bad("burst-too-long", f"burst {value!r} = {n} bytes would take {n * 8 / bps:.0f} s at "
                  f"{bps} bit/s: at most {BURST_SECONDS_MAX} s of traffic (tbf keeps it in 64 ns ticks, 32 bits)")
    return n


def mac(text: str) -> str:
    """The adapter's own MAC for the MAC filter: a unicast, non-zero MAC, lower-case with ``:``."""
    t = (text or "").strip().lower()
    if not _MAC.match(t):
        raise bad("mac-syntax", f"MAC {text!r}: six hex octets separated by ':' or '-' (one style), "
                  "e.g. c4:37:72:12:34:56")
    m = t.replace("-", ":")
    if m == "ff:ff:ff:ff:ff:ff":
        raise bad("mac-broadcast", f"MAC {m} is the broadcast address")
    if m == "00:00:00:00:00:00":
        raise bad("mac-zero", "MAC 00:00:00:00:00:00 is not a usable address")
    if int(m[:2], 16) & 1:
        raise bad("mac-multicast", f"MAC {m} has the multicast bit set (first octet must be even)")
    return m


Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def addresses(texts: Iterable[str]) -> list[str]:
    """The sources a guest may use: addresses (``198.18.1.2``, ``198.18.1.2/24`` means that one
    address, as ``ip addr`` shows it) or whole prefixes written as networks (``198.18.8.0/29``).

    Returned normalised (``a.b.c.d`` or ``net/len``), sorted, duplicates removed.
    """
    out: set[str] = set()
    items = [t for t in (x.strip() for x in texts) if t]
    if not items:
        raise bad("ip-filter-empty", "the IP filter needs at least one address the guest may use "
                  "(to stop all IP traffic, unplug the cable)")
    for t in items:
        try:
            iface = ipaddress.ip_interface(t)
        except ValueError:
            raise bad("ip-filter-syntax", f"{t!r} is not an IPv4/IPv6 address or prefix") from None
        a = iface.ip
        if a.is_unspecified or a.is_loopback or a.is_multicast or (a.version == 4 and a == ipaddress.IPv4Address(
                "255.255.255.255")):
            raise bad("ip-filter-address", f"{t}: {a} can never be a guest's source address")
        if "/" in t and iface.network.network_address == a and iface.network.prefixlen < iface.max_prefixlen:
            out.add(str(iface.network))  # a network written as such: the whole prefix
        else:
            out.add(str(a))
    return sorted(out, key=lambda s: (":" in s, ipaddress.ip_network(s, strict=False)))


def vlan_id(value: Union[str, int]) -> int:
    """A VLAN id, 1–4094 (0 is "no VLAN", 4095 reserved)."""
    try:
        n = int(str(value).strip())
    except ValueError:
        raise bad("vlan-syntax", f"VLAN {value!r}: a number 1–4094") from None
    if not VLAN_MIN <= n <= VLAN_MAX:
        raise bad("vlan-range", f"VLAN {n}: must be 1–4094 (0 means untagged, 4095 is reserved)")
    return n


def vlan_list(text: Union[str, Iterable[Union[str, int]]]) -> list[int]:
    """Trunk VLANs from ``10,20-29`` or a list: sorted, unique, each 1–4094."""
    parts = text.split(",") if isinstance(text, str) else [str(x) for x in text]
    out: set[int] = set()
    for p in (p.strip() for p in parts):
        if not p:
            continue
        lo, dash, hi = p.partition("-")
        if dash:
            a, b = vlan_id(lo), vlan_id(hi)
            if a > b:
                raise bad("vlan-range", f"VLAN range {p}: start after end")
            out.update(range(a, b + 1))
        else:
            out.add(vlan_id(p))
    if not out:
        raise bad("vlan-syntax", "trunk: at least one VLAN id, e.g. 10,20-29")
    return sorted(out)


def optional(value: Optional[str]) -> Optional[str]:
    """``off``/``none``/empty as None (clearing a setting)."""
    if value is None or str(value).strip().lower() in ("", "off", "none", "no"):
        return None
    return value


def is_off(value: object) -> bool:
    """None, empty, ``off``, ``none``, ``no``: the setting is to be cleared."""
    return value is None or (isinstance(value, str) and value.strip().lower() in ("", "off", "none", "no"))
