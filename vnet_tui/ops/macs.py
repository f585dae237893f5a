"""Generated MACs: guest ends get Virtuozzo's OUI, host ends a first octet of ``fe``.

``fe`` is locally administered, unicast and numerically the highest first
octet a unicast MAC can have, so a bridge (which takes the lowest port
MAC unless its own is pinned) never adopts a host end's MAC.  Neither kind
ever collides with a MAC already on the server (host, containers, VMs).
"""

from __future__ import annotations

import secrets
from typing import AbstractSet, Container, Iterable, Mapping

GUEST_OUI = (0xC4, 0x37, 0x72)
HOST_FIRST = 0xFE


def _fmt(octets: Iterable[int]) -> str:
    return ":".join(f"{o:02x}" for o in octets)


def _used(taken: Iterable[str]) -> Container[str]:
    """``taken`` lower-cased; a mapping or set is taken as it is (ServerFacts.macs() keys are)."""
    if isinstance(taken, (Mapping, AbstractSet)):
        return taken
    return {m.lower() for m in taken}


def guest_mac(taken: Iterable[str]) -> str:
    """A fresh ``c4:37:72:xx:xx:xx`` not in ``taken`` (lower-case MACs if a mapping or set)."""
    used = _used(taken)
    for _ in range(1000):
        m = _fmt(GUEST_OUI + tuple(secrets.token_bytes(3)))
        if m not in used:
            return m
    raise RuntimeError("no free guest MAC after 1000 tries")  # 16M choices: not reachable


def host_mac(taken: Iterable[str]) -> str:
    """A fresh ``fe:xx:xx:xx:xx:xx`` not in ``taken`` (lower-case MACs if a mapping or set)."""
    used = _used(taken)
    for _ in range(1000):
        m = _fmt((HOST_FIRST,) + tuple(secrets.token_bytes(5)))
        if m not in used:
            return m
    raise RuntimeError("no free host MAC after 1000 tries")


def mac_key(mac: str) -> int:
    """A MAC as a number (a bridge takes the lowest port MAC)."""
    return int(mac.replace(":", ""), 16)
