"""A whole policy request for one port as steps, validated and planned before anything changes.

``plan(port, want)`` takes any of these keys (absent: leave as is)::

    {"cable": True | False,
     "rate_in":  "10mbit" | 10_000_000 | {"rate": "10mbit", "burst": "64kb"} | None,   # None/"off": clear
     "rate_out": same as rate_in,
     "mac_filter": "c4:37:72:…" | None,
     "ip_filter": ["198.18.1.2", "fd00::2"] | None,
     "isolated": True | False,
     "vlan": {"access": 10 | None, "trunk": "20,30-39" | None}}

and returns the steps (``steps.Step``) in a safe order — the nftables
settings (MAC filter, IP filter, rate-out) as one transaction unless
``merge=False`` — : every input is
checked and the port read once before the first step is built, so a bad
value or a missing kernel feature raises ``InvalidInput`` with nothing
changed.  ``undo_plan(port, settings)`` plans the way back to a
``read.settings(...)`` snapshot (what the journal keeps as "before").
"""

from __future__ import annotations

from typing import Any, Optional

from vnet_tui.core.errors import InvalidInput

from . import nftrules
from .cable import cable
from .isolate import isolated
from .port import Port
from .rate import rate_in, rate_out
from .read import list_ours, read
from .spoof import ip_filter, mac_filter
from .steps import Step, merge_nft
from .vlan import vlan

KEYS = ("vlan", "mac_filter", "ip_filter", "rate_out", "rate_in", "isolated", "cable")


def _rate_args(value: Any) -> tuple[Any, Any]:
    if isinstance(value, dict):
        return value.get("rate"), value.get("burst")
    return value, None


def plan(port: Port, want: dict[str, Any], current: Optional[dict[str, Any]] = None,
         mtu: int = 1500, merge: bool = True) -> list[Step]:
    """Steps that bring ``port`` to ``want``; InvalidInput (nothing changed) on any bad value."""
    unknown = set(want) - set(KEYS)
    if unknown:
        raise InvalidInput(f"unknown policy setting(s): {', '.join(sorted(unknown))}", rule="policy-setting")
    if "vlan" in want:  # refused by the kernel probe before the port is even read
        v = want["vlan"] or {}
        vlan_steps = vlan(port, v.get("access"), v.get("trunk"), current)
    else:
        vlan_steps = []
    # one listing of our table serves the read and the plan (each costs as much as the table is big)
    listing = list_ours(port.fd, port.ifname) if current is None or {"mac_filter", "ip_filter", "rate_out"} & set(want) else None
    cur = current or read(port, listing)
    chains = nftrules.table_chain_names(listing) or []
    out: list[Step] = list(vlan_steps)
    if "mac_filter" in want:
        out += mac_filter(port, want["mac_filter"], cur, chains)
    if "ip_filter" in want:
        out += ip_filter(port, want["ip_filter"], cur, chains)
    if "rate_out" in want:
        out += rate_out(port, *_rate_args(want["rate_out"]), current=cur, mtu=mtu, table_chains=chains)
    if "rate_in" in want:
        out += rate_in(port, *_rate_args(want["rate_in"]), current=cur, mtu=mtu)
    if "isolated" in want:
        out += isolated(port, bool(want["isolated"]), cur)
    if "cable" in want:
        out += cable(port, bool(want["cable"]), cur)
    return merge_nft(port, out) if merge else out


def want_of(settings: dict[str, Any]) -> dict[str, Any]:
    """A ``plan`` request that returns a port to ``settings`` (from ``read.settings``); others' parts untouched."""
    want: dict[str, Any] = {"mac_filter": settings["mac_filter"], "ip_filter": settings["ip_filter"]}
    if settings.get("cable") is not None:  # a veth's; a VM's cable is QEMU's (qmp_cable)
        want["cable"] = settings["cable"]
    for key in ("rate_in", "rate_out"):
        r = settings[key]
        if r is None or r.get("ours"):
            want[key] = {"rate": r["rate_bps"], "burst": r["burst_bytes"]} if r else None
    if settings.get("isolated") is not None:
        want["isolated"] = settings["isolated"]["isolated"]
    return want


def undo_plan(port: Port, settings: dict[str, Any], current: Optional[dict[str, Any]] = None) -> list[Step]:
    """Steps back to ``settings``, including the unicast-flood flag as it was."""
    want = want_of(settings)
    iso = want.pop("isolated", None)
    steps = plan(port, want, current)
    if iso is not None:
        steps += isolated(port, iso, current, flood=settings["isolated"]["unicast_flood"])
    return steps
