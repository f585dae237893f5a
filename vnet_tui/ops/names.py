"""Default names, and the marks that tell a half-made adapter from a finished one.

* guest end: the next free ``ethN``;
* container host end: Virtuozzo's ``veth<CTID>.<N>`` (CTID: the container
  name's trailing digits, else a short hash of the name), within 15 bytes;
* VM host end: ``vme<8 hex>.<N>`` (the VM's existing vme prefix, else the
  guest MAC's last four octets);
* while an adapter is being made its peer carries a temporary name
  ``vt<pid hex>-<4 hex>`` and its host end the alias ``vnet-tui:pending:<pid>``,
  so adapters whose maker died can be found and removed.  In code such an
  end is *half-made* (``half_made_by``); "pending" alone means an unplug
  awaiting the guest.  The alias's text stays ``pending``: half-made ends
  left by an older version are still recognised.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from typing import Iterable, Optional

HALF_MADE_ALIAS = "vnet-tui:pending:"  # the kernel-visible text: unchanged (older half-made ends carry it)
TEMP_NAME = re.compile(r"^vt([0-9a-f]{1,7})-[0-9a-f]{4}$")
HALF_MADE = re.compile(r"^vnet-tui:pending:(\d+)$")
VME = re.compile(r"^vme([0-9a-f]{8})\.(\d+)$")
ETH = re.compile(r"^eth(\d+)$")


def next_eth(taken: Iterable[str]) -> str:
    """The lowest ``ethN`` not in ``taken``."""
    used = set(taken)
    n = 0
    while f"eth{n}" in used:
        n += 1
    return f"eth{n}"


def ctid(container: str) -> str:
    """The container's id for host names: trailing digits, else 6 hex of a hash."""
    m = re.search(r"(\d{1,8})$", container)
    if m:
        return m.group(1)
    return hashlib.sha1(container.encode()).hexdigest()[:6]


def veth_host_name(container: str, guest: str, taken: Iterable[str]) -> str:
    """``veth<CTID>.<N>``: N is the guest's ethN index when free, else the next free one."""
    used = set(taken)
    base = f"veth{ctid(container)}."
    m = ETH.match(guest)
    first = int(m.group(1)) if m else 0
    n = first
    while f"{base}{n}" in used or len(f"{base}{n}") > 15:
        if len(f"{base}{n}") > 15:
            base = f"veth{hashlib.sha1(container.encode()).hexdigest()[:6]}."
            continue
        n += 1
    return f"{base}{n}"


def vme_prefix(existing: Iterable[str], guest_mac: str) -> str:
    """The 8 hex of a VM's taps: those it already has, else its MAC's last four octets."""
    for name in existing:
        m = VME.match(name or "")
        if m:
            return m.group(1)
    return guest_mac.replace(":", "")[-8:]


def vme_name(prefix: str, taken: Iterable[str], first: int = 0) -> tuple[str, int]:
    """The next free ``vme<prefix>.<N>`` and its N."""
    used = set(taken)
    n = first
    while f"vme{prefix}.{n}" in used:
        n += 1
    return f"vme{prefix}.{n}", n


def temp_name() -> str:
    """A collision-free temporary name for a peer being made, naming our pid."""
    return f"vt{os.getpid():x}-{secrets.token_hex(2)}"


def half_made_alias() -> str:
    return f"{HALF_MADE_ALIAS}{os.getpid()}"


def half_made_by(alias: Optional[str], ifname: str) -> Optional[int]:
    """The pid that was making this interface, if it is marked as half-made."""
    m = HALF_MADE.match(alias or "")
    if m:
        return int(m.group(1))
    m = TEMP_NAME.match(ifname)
    if m:
        return int(m.group(1), 16)
    return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
