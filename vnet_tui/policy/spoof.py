"""Anti-spoofing at the host end: frames the guest sends with a source that is not its own are dropped.

``mac_filter(mac)``: source MAC and ARP sender MAC must be ``mac`` (the
guest end's / the VM NIC's MAC, not the host end's).  ``ip_filter(addrs)``:
IPv4/IPv6 sources, ARP sender IPs and NDP advertisement targets must be
among ``addrs`` (plus 0.0.0.0, ::, fe80::/10), and VLAN-tagged frames are
dropped (they would carry unfiltered inner packets past a bridge without
VLAN filtering).  Both live in the port's ``table netdev vnet_tui_<ifname>`` (``nftrules``),
hooked at the host end's ingress only; each rule counts what it drops.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from . import chains, nftrules, probe, validate
from .port import Port
from .read import list_ours, read
from .steps import Step


def _chains_now(port: Port, table_chains: Optional[list[str]]) -> Optional[list[str]]:
    return table_chains if table_chains is not None else (nftrules.table_chain_names(list_ours(port.fd, port.ifname)) or [])


def mac_filter(port: Port, mac: Optional[str], current: Optional[dict[str, Any]] = None,
               table_chains: Optional[list[str]] = None) -> list[Step]:
    """Drop frames whose source MAC (or ARP sender MAC) is not ``mac``; None: no MAC filter."""
    want = None if validate.is_off(mac) else validate.mac(mac)  # type: ignore[arg-type]
    if want is not None:
        probe.require("nft-netdev")
    cur = current or read(port)
    before = cur["mac_filter"]["mac"] if cur["mac_filter"] else None
    if want == before:
        return []
    return chains.steps(port, "mac_filter", "mac", want, before, _chains_now(port, table_chains))


def ip_filter(port: Port, addrs: Optional[Iterable[str]], current: Optional[dict[str, Any]] = None,
              table_chains: Optional[list[str]] = None) -> list[Step]:
    """Drop frames whose source IPv4/IPv6 (ARP sender, ND target) is not in ``addrs``; None: no IP filter."""
    want = validate.addresses(addrs) if addrs is not None else None
    if want is not None:
        probe.require("nft-netdev")
    cur = current or read(port)
    before = cur["ip_filter"]["addrs"] if cur["ip_filter"] else None
    if want == before:
        return []
    return chains.steps(port, "ip_filter", "ip", want, before, _chains_now(port, table_chains))
