"""Converge one end from its state now to the state wanted, as renderable steps.

The order is what keeps changes safe: rename, MAC, MTU, master, add
addresses, remove addresses (new before old; ``promote_secondaries`` held
on so a primary's removal keeps the new ones), IPv6 on before its
addresses and off after, up, routes (a route needs its device up),
sysctls, down, alias.  Used for creation, edits, rollbacks, undo and the
revert timer alike.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Optional

from vnet_tui.net.change import ip_command, sysctl_command

from .endstate import RT_TABLE_MAIN, EndSnapshot
from .plan import Step


def _route_words(r: dict[str, Any], dev: str) -> list[str]:
    words = ["-6"] if ":" in r["dst"] else []
    words += ["route", "add", r["dst"]]
    if r.get("gateway"):
        words += ["via", r["gateway"]]
    words += ["dev", dev]
    if r.get("table") not in (None, RT_TABLE_MAIN):
        words += ["table", str(r["table"])]
    if r.get("metric") is not None:
        words += ["metric", str(r["metric"])]
    return words


def _route_spec(r: dict[str, Any], index: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"dst": r["dst"], "oif": index}
    if r.get("gateway"):
        spec["gateway"] = r["gateway"]
    if r.get("table") not in (None, RT_TABLE_MAIN):
        spec["table"] = r["table"]
    if r.get("metric") is not None:
        spec["priority"] = r["metric"]
    return spec


def converge(key: str, label: Optional[str], cur: EndSnapshot, want: EndSnapshot) -> list[Step]:
    """Steps that turn ``cur`` into ``want`` (same interface; names may differ only by rename)."""
    steps: list[Step] = []
    name = cur.ifname

    def link(words: list[str], **kw: Any) -> None:
        steps.append(
            Step(
                ip_command(label, "link", "set", "dev", *words),
                lambda live, n=name, kw=kw: live.ns(key).link_set(live.index(key, n), **kw),
            )
        )

    if want.ifname != cur.ifname:
        link([name, "name", want.ifname], ifname=want.ifname)
        name = want.ifname
    if want.mac and want.mac != cur.mac:
        link([name, "address", want.mac], address=want.mac)
    if want.mtu != cur.mtu:
        link([name, "mtu", str(want.mtu)], mtu=want.mtu)
    if want.master != cur.master:
        if want.master:
            steps.append(
                Step(
                    ip_command(label, "link", "set", "dev", name, "master", want.master),
                    lambda live, n=name, m=want.master: live.ns(key).link_set(
                        live.index(key, n), master=live.index(key, m)
                    ),
                )
            )
        else:
            link([name, "nomaster"], master=0)
    v6path = f"ipv6/conf/{name}/disable_ipv6"
    v6step = Step(
        sysctl_command(label, v6path, want.ipv6_disabled or ""),
        lambda live, p=v6path, w=want.ipv6_disabled: live.ns(key).sysctl_write(p, w or "0"),
    )
    v6change = want.ipv6_disabled is not None and want.ipv6_disabled != cur.ipv6_disabled
    if v6change and want.ipv6_disabled == "0":  # IPv6 on before IPv6 addresses and routes
        steps.append(v6step)
    for a in [a for a in want.addresses if a not in cur.addresses]:
        steps.append(
            Step(
                ip_command(label, "addr", "add", a, "dev", name),
                lambda live, n=name, a=a: live.ns(key).addr_add(live.index(key, n), a),
            )
        )
    doomed = [a for a in cur.addresses if a not in want.addresses]
    guard = promote_guard(key, label, name, doomed, want.addresses)
    steps += guard[:1]
    for a in doomed:
        steps.append(
            Step(
                ip_command(label, "addr", "del", a, "dev", name),
                lambda live, n=name, a=a: live.ns(key).addr_del(live.index(key, n), a),
            )
        )
    steps += guard[1:]
    if want.up and not cur.up:
        link([name, "up"], state="up")
    rkey = lambda r: (r["dst"], r["gateway"], r["table"], r.get("metric"))  # noqa: E731
    have = {rkey(r) for r in cur.routes}
    for r in want.routes:
        if rkey(r) not in have:
            steps.append(
                Step(
                    ip_command(label, *_route_words(r, name)),
                    lambda live, n=name, r=r: live.ns(key).route_add(**_route_spec(r, live.index(key, n))),
                )
            )
    wanted = {rkey(r) for r in want.routes}
    for r in cur.routes:
        if rkey(r) not in wanted:
            words = _route_words(r, name)
            words[words.index("add")] = "del"
            steps.append(
                Step(
                    ip_command(label, *words),
                    lambda live, n=name, r=r: live.ns(key).route_del(**_route_spec(r, live.index(key, n))),
                )
            )
    for f, path in (("proxy_arp", "ipv4/conf/{}/proxy_arp"), ("proxy_ndp", "ipv6/conf/{}/proxy_ndp")):
        w = getattr(want, f)
        if w is not None and w != getattr(cur, f):
            p = path.format(name)
            steps.append(
                Step(sysctl_command(label, p, w), lambda live, p=p, w=w: live.ns(key).sysctl_write(p, w))
            )
    if v6change and want.ipv6_disabled != "0":
        steps.append(v6step)
    if not want.up and cur.up:
        link([name, "down"], state="down")
    if (want.alias or None) != (cur.alias or None):
        link([name, "alias", repr(want.alias or "")], ifalias=want.alias or "")
    return steps


def promote_guard(
    key: str, label: Optional[str], name: str, doomed: list[str], kept: list[str]
) -> list[Step]:
    """[on, restore] around deletions that would take new addresses of the same subnet with them.

    Without ``promote_secondaries`` the kernel deletes a primary IPv4
    address's secondaries with it — the very addresses "new before old"
    just added.  The first step turns it on (remembering the old value),
    the second puts the old value back.
    """
    gone = [ipaddress.ip_interface(a) for a in doomed if ":" not in a]
    stay = [ipaddress.ip_interface(a) for a in kept if ":" not in a]
    if not any(k.network == d.network for d in gone for k in stay):
        return []
    path = f"ipv4/conf/{name}/promote_secondaries"
    slot = f"promote:{key}:{name}"

    def on(live: Any) -> None:
        old = live.ns(key).sysctl_read(path)
        live.scratch.setdefault(slot, old)  # a failed step may have left it on: keep the first value
        if old == "0":
            live.ns(key).sysctl_write(path, "1")

    def back(live: Any) -> None:
        if live.scratch.get(slot) == "0":
            live.ns(key).sysctl_write(path, "0")
        live.scratch.pop(slot, None)  # only once it is back: a rollback finds it otherwise

    return [
        Step(sysctl_command(label, path, "1"), on),
        Step(sysctl_command(label, path, "0  # as it was"), back),
    ]
