"""A port's tc, as the policy reader reports it: the root qdisc (tbf/htb rate-in), the ingress
qdisc's filters and actions, and a rate-out found behind an ifb redirect.

Shapes are ``read``'s (``rate_in``, ``root_qdisc``, ``ingress``; see its opening comment).  The
messages are read by the codec (``net/rtnl/tc.py``: ``TcMsg``, ``tbf_parms``, ``htb_parms``,
``parse_actions``); what they come to is here.
"""

from __future__ import annotations

from typing import Any, Optional

from vnet_tui.net.rtnl.tc import (TC_H_INGRESS, TC_H_MAJ_INGRESS, TC_H_ROOT, TCA_U32_SEL, TcMsg, TcStats,
                                  htb_parms, parse_actions, tbf_parms)

from .nlread import Reader, decoded_tc, qdisc_head

OUR_HANDLE = 0x5654  # "VT": root qdiscs vnet-tui makes carry handle 5654:
PSCHED_TICK_NS = 64  # PSCHED_SHIFT = 6: a tc "tick" is 64 ns since Linux 2.6.31
MIRRED = {1: ("egress", "redirect"), 2: ("egress", "mirror"), 3: ("ingress", "redirect"), 4: ("ingress", "mirror")}


def handle_text(h: int) -> str:
    maj, minor = h >> 16, h & 0xFFFF
    return f"{maj:x}:" if not minor else f"{maj:x}:{minor:x}"


def _burst(rate_bytes: int, ticks: int) -> int:
    # up, not down: the kernel keeps the burst as time (rounded down to a 64 ns tick), so a burst read
    # back this way and set again gives the same ticks, and reads the same
    return -(-rate_bytes * ticks * PSCHED_TICK_NS // 1_000_000_000)


def _stats(st: TcStats) -> dict[str, int]:
    return {"bytes": st.bytes, "packets": st.packets, "drops": st.drops, "overlimits": st.overlimits,
            "backlog": st.backlog}


def _tbf(q: TcMsg) -> Optional[dict[str, Any]]:
    p = tbf_parms(q.options or {})
    if p is None:
        return None
    rate, limit, ticks = p
    return {"rate_bps": int(rate) * 8, "burst_bytes": _burst(int(rate), ticks), "limit_bytes": limit,
            "kernel": {"rate_bytes": int(rate), "buffer_ticks": ticks, "limit_bytes": limit}}


def _htb_classes(rd: Reader, index: int) -> list[dict[str, Any]]:
    out = []
    for c in rd.classes(index):
        if c.kind != "htb" or c.options is None:
            continue
        p = htb_parms(c.options)
        if p is None:
            continue
        rate, ceil, buffer = p
        st = c.stats
        out.append({"classid": handle_text(c.handle), "rate_bps": int(rate) * 8, "ceil_bps": int(ceil) * 8,
                    "burst_bytes": _burst(int(rate), buffer), "bytes": st.bytes, "packets": st.packets,
                    "drops": st.drops, "overlimits": st.overlimits})
    return out


def _root(rd: Reader, index: int) -> tuple[dict[str, Any], Optional[dict[str, Any]]]:
    raw = rd.qdisc_message(index, TC_H_ROOT)
    if raw is None:
        return {"kind": None, "handle": None, "ours": False, "default": True}, None
    kind, h = qdisc_head(raw)
    if kind not in ("tbf", "htb"):  # nothing in its options to read: no decoding (noqueue on 5,000 ports)
        return {"kind": kind, "handle": handle_text(h), "ours": False, "default": h == 0}, None
    q = decoded_tc(raw)
    ours = (h >> 16) == OUR_HANDLE and kind == "tbf"
    root = {"kind": kind, "handle": handle_text(h), "ours": ours, "default": h == 0}
    st = _stats(q.stats)
    if kind == "tbf":
        p = _tbf(q)
        if p:
            return root, {"mechanism": "tbf", "ours": ours, **p, **st, "classes": []}
    if kind == "htb":
        classes = _htb_classes(rd, index)
        top = classes[0] if classes else {"rate_bps": 0, "burst_bytes": 0}
        return root, {"mechanism": "htb", "ours": False, "rate_bps": top["rate_bps"],
                      "burst_bytes": top["burst_bytes"], "limit_bytes": None, **st, "classes": classes}
    return root, None


def _actions(rd: Reader, f: TcMsg) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for act in parse_actions(f.kind, f.options):
        item: dict[str, Any] = {"kind": act.kind}
        if act.packets is not None:
            item.update(packets=act.packets, bytes=act.bytes)
        if act.eaction is not None:  # mirred with its options
            direction, what = MIRRED.get(act.eaction, ("?", "?"))
            item.update(action=what, direction=direction, to=rd.ifname(act.ifindex or 0), to_ifindex=act.ifindex)
        out.append(item)
    return out


def _ingress(rd: Reader, index: int) -> tuple[Optional[dict[str, Any]], Optional[dict[str, Any]]]:
    """The ingress qdisc with its filters, and a rate-out found behind an ifb redirect."""
    q = rd.qdisc(index, TC_H_INGRESS)
    if q is None:
        return None, None
    filters = []
    shaped: Optional[dict[str, Any]] = None
    for f in rd.filters(index, TC_H_MAJ_INGRESS):
        opts = f.options
        if opts is None or (f.kind == "u32" and TCA_U32_SEL not in opts):
            continue  # the per-priority header message, u32's hash table itself
        acts = _actions(rd, f)
        filters.append({"kind": f.kind, "pref": f.info >> 16, "handle": f"{f.handle:x}", "actions": acts})
        for a in acts:
            if a.get("kind") == "mirred" and a.get("action") == "redirect" and a.get("to_ifindex") and shaped is None:
                _r, rate = _root(rd, a["to_ifindex"])
                if rate is not None:
                    shaped = {"mechanism": "ifb", "ours": False, "via": a["to"], "rate_bps": rate["rate_bps"],
                              "burst_bytes": rate["burst_bytes"], "drops": rate["drops"],
                              "overlimits": rate["overlimits"]}
    return {"handle": handle_text(q.handle), "filters": filters}, shaped
