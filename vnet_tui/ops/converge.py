"""Converge one end from its state now to the state wanted, as renderable steps.

The order is what keeps changes safe: rename, MAC, MTU, master, add
addresses, remove addresses (new before old; ``promote_secondaries`` held
on so a primary's removal keeps the new ones), the IPv6 address
generation mode and IPv6 on before its addresses (and off after), up, routes (a route needs its device up),
sysctls, down, alias.  Used for creation, edits, rollbacks, undo and the
revert timer alike.

The steps are typed objects (``endsteps``): each holds the end's name at
the time it runs and renders its own command.
"""

from __future__ import annotations

import ipaddress
from typing import Optional

from .endstate import EndSnapshot
from .endsteps import AddrChange, LinkSet, PromoteGuard, RouteChange, SetMaster, SysctlWrite
from .plan import Step, StepObject


def _step(s: StepObject) -> Step:
    return Step(s.describe(), s.do)


def converge(key: str, label: Optional[str], cur: EndSnapshot, want: EndSnapshot) -> list[Step]:
    """Steps that turn ``cur`` into ``want`` (same interface; names may differ only by rename)."""
    made: list[StepObject] = []
    name = cur.ifname

    def link(words: list[str], **attrs: object) -> None:
        made.append(LinkSet(key, label, name, words, dict(attrs)))

    if want.ifname != cur.ifname:
        link(["name", want.ifname], ifname=want.ifname)
        name = want.ifname
    if want.mac and want.mac != cur.mac:
        link(["address", want.mac], address=want.mac)
    if want.mtu != cur.mtu:
        link(["mtu", str(want.mtu)], mtu=want.mtu)
    if want.master != cur.master:
        if want.master:
            made.append(SetMaster(key, label, name, want.master))
        else:
            link(["nomaster"], master=0)
    if want.addr_gen_mode not in (None, cur.addr_gen_mode or "0"):  # unread (an end just made): the default
        # before up (and IPv6 on): the mode decides whether the kernel makes a link-local as it comes up
        path = f"ipv6/conf/{name}/addr_gen_mode"
        made.append(SysctlWrite(key, label, path, want.addr_gen_mode, want.addr_gen_mode))
    v6path = f"ipv6/conf/{name}/disable_ipv6"
    v6step = SysctlWrite(key, label, v6path, want.ipv6_disabled or "", want.ipv6_disabled or "0")
    v6change = want.ipv6_disabled is not None and want.ipv6_disabled != cur.ipv6_disabled
    if v6change and want.ipv6_disabled == "0":  # IPv6 on before IPv6 addresses and routes
        made.append(v6step)
    for a in [a for a in want.addresses if a not in cur.addresses]:
        made.append(AddrChange(key, label, name, "add", a))
    doomed = [a for a in cur.addresses if a not in want.addresses]
    guard = promote_guard(key, label, name, doomed, want.addresses)
    if guard:
        made.append(guard.on())
    for a in doomed:
        made.append(AddrChange(key, label, name, "del", a))
    if guard:
        made.append(guard.back())
    if want.up and not cur.up:
        link(["up"], state="up")
    rkey = lambda r: (r["dst"], r["gateway"], r["table"], r.get("metric"))  # noqa: E731
    have = {rkey(r) for r in cur.routes}
    for r in want.routes:
        if rkey(r) not in have:
            made.append(RouteChange(key, label, name, "add", r))
    wanted = {rkey(r) for r in want.routes}
    for r in cur.routes:
        if rkey(r) not in wanted:
            made.append(RouteChange(key, label, name, "del", r))
    for f, path in (("proxy_arp", "ipv4/conf/{}/proxy_arp"), ("proxy_ndp", "ipv6/conf/{}/proxy_ndp")):
        w = getattr(want, f)
        if w is not None and w != getattr(cur, f):
            made.append(SysctlWrite(key, label, path.format(name), w, w))
    if v6change and want.ipv6_disabled != "0":
        made.append(v6step)
    if not want.up and cur.up:
        link(["down"], state="down")
    if (want.alias or None) != (cur.alias or None):
        link(["alias", repr(want.alias or "")], ifalias=want.alias or "")
    return [_step(s) for s in made]


def promote_guard(
    key: str, label: Optional[str], name: str, doomed: list[str], kept: list[str]
) -> Optional[PromoteGuard]:
    """The guard (its ``on`` and ``back`` steps) around deletions that would take new addresses with them.

    Without ``promote_secondaries`` the kernel deletes a primary IPv4
    address's secondaries with it — the very addresses "new before old"
    just added.  The first step turns it on (remembering the old value),
    the second puts the old value back.  None when no deletion needs it.
    """
    gone = [ipaddress.ip_interface(a) for a in doomed if ":" not in a]
    stay = [ipaddress.ip_interface(a) for a in kept if ":" not in a]
    if not any(k.network == d.network for d in gone for k in stay):
        return None
    return PromoteGuard(key, label, name)
