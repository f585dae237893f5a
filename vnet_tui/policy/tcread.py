"""A port's tc, as the policy reader reports it: the root qdisc (tbf/htb rate-in), the ingress
qdisc's filters and actions, and a rate-out found behind an ifb redirect.

Shapes are ``read``'s (``rate_in``, ``root_qdisc``, ``ingress``; see its opening comment).
"""

from __future__ import annotations

import struct
from typing import Any, Optional

from .nlread import TC_H_INGRESS, TC_H_ROOT, Reader, qdisc_head, tc_options

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


def _stats(msg: Any) -> dict[str, int]:
    out = {"bytes": 0, "packets": 0, "drops": 0, "overlimits": 0, "backlog": 0}
    st = msg.get_attr("TCA_STATS2")
    if st is not None:
        b = st.get_attr("TCA_STATS_BASIC") or {}
        q = st.get_attr("TCA_STATS_QUEUE") or {}
        out.update(bytes=b.get("bytes", 0), packets=b.get("packets", 0), drops=q.get("drops", 0),
                   overlimits=q.get("overlimits", 0), backlog=q.get("backlog", 0))
    return out


def _tbf(q: Any) -> Optional[dict[str, Any]]:
    opts = tc_options(q)
    if 1 not in opts or len(opts[1]) < 36:
        return None
    rate32 = struct.unpack_from("=I", opts[1], 8)[0]
    limit, ticks = struct.unpack_from("=II", opts[1], 24)
    rate = struct.unpack("=Q", opts[4][:8])[0] if len(opts.get(4, b"")) >= 8 else rate32  # TCA_TBF_RATE64
    return {"rate_bps": int(rate) * 8, "burst_bytes": _burst(int(rate), ticks), "limit_bytes": limit,
            "kernel": {"rate_bytes": int(rate), "buffer_ticks": ticks, "limit_bytes": limit}}


def _htb_classes(rd: Reader, index: int) -> list[dict[str, Any]]:
    out = []
    for c in rd.classes(index):
        if c.get_attr("TCA_KIND") != "htb":
            continue
        opts = c.get_attr("TCA_OPTIONS")
        p = opts.get_attr("TCA_HTB_PARMS") if opts is not None else None
        if not p:
            continue
        rate = opts.get_attr("TCA_HTB_RATE64") or p["rate"]
        ceil = opts.get_attr("TCA_HTB_CEIL64") or p["ceil"]
        st = _stats(c)
        out.append({"classid": handle_text(c["handle"]), "rate_bps": int(rate) * 8, "ceil_bps": int(ceil) * 8,
                    "burst_bytes": _burst(int(rate), p["buffer"]), "bytes": st["bytes"], "packets": st["packets"],
                    "drops": st["drops"], "overlimits": st["overlimits"]})
    return out


def _root(rd: Reader, index: int) -> tuple[dict[str, Any], Optional[dict[str, Any]]]:
    raw = rd.qdisc_message(index, TC_H_ROOT)
    if raw is None:
        return {"kind": None, "handle": None, "ours": False, "default": True}, None
    kind, h = qdisc_head(raw)
    if kind not in ("tbf", "htb"):  # nothing in its options to read: no decoding (noqueue on 5,000 ports)
        return {"kind": kind, "handle": handle_text(h), "ours": False, "default": h == 0}, None
    q = rd.decoded_tc(raw)
    kind = q.get_attr("TCA_KIND")
    h = q["handle"]
    ours = (h >> 16) == OUR_HANDLE and kind == "tbf"
    root = {"kind": kind, "handle": handle_text(h), "ours": ours, "default": h == 0}
    st = _stats(q)
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


def _actions(rd: Reader, f: Any) -> list[dict[str, Any]]:
    opts = f.get_attr("TCA_OPTIONS")
    if opts is None:
        return []
    acts = None
    for name in ("TCA_U32_ACT", "TCA_BPF_ACT", "TCA_MATCHALL_ACT", "TCA_FLOWER_ACT"):
        try:
            acts = opts.get_attr(name)
        except Exception:
            acts = None
        if acts is not None:
            break
    out: list[dict[str, Any]] = []
    for _name, act in (acts["attrs"] if acts is not None else []):
        kind = act.get_attr("TCA_ACT_KIND")
        item: dict[str, Any] = {"kind": kind}
        st = act.get_attr("TCA_ACT_STATS")
        if st is not None:
            b = st.get_attr("TCA_STATS_BASIC") or {}
            item.update(packets=b.get("packets", 0), bytes=b.get("bytes", 0))
        ao = act.get_attr("TCA_ACT_OPTIONS")
        if kind == "mirred" and ao is not None:
            p = ao.get_attr("TCA_MIRRED_PARMS") or {}
            direction, what = MIRRED.get(p.get("eaction", 0), ("?", "?"))
            item.update(action=what, direction=direction, to=rd.ifname(p.get("ifindex", 0)),
                        to_ifindex=p.get("ifindex"))
        out.append(item)
    return out


def _ingress(rd: Reader, index: int) -> tuple[Optional[dict[str, Any]], Optional[dict[str, Any]]]:
    """The ingress qdisc with its filters, and a rate-out found behind an ifb redirect."""
    q = rd.qdisc(index, TC_H_INGRESS)
    if q is None:
        return None, None
    filters = []
    shaped: Optional[dict[str, Any]] = None
    for f in rd.filters(index, 0xFFFF0000):
        opts = f.get_attr("TCA_OPTIONS")
        if not opts or (f.get_attr("TCA_KIND") == "u32" and not opts.get_attr("TCA_U32_SEL")):
            continue  # the per-priority header message, u32's hash table itself
        acts = _actions(rd, f)
        filters.append({"kind": f.get_attr("TCA_KIND"), "pref": f["info"] >> 16, "handle": f"{f['handle']:x}",
                        "actions": acts})
        for a in acts:
            if a.get("kind") == "mirred" and a.get("action") == "redirect" and a.get("to_ifindex") and shaped is None:
                _r, rate = _root(rd, a["to_ifindex"])
                if rate is not None:
                    shaped = {"mechanism": "ifb", "ours": False, "via": a["to"], "rate_bps": rate["rate_bps"],
                              "burst_bytes": rate["burst_bytes"], "drops": rate["drops"],
                              "overlimits": rate["overlimits"]}
    return {"handle": handle_text(q["handle"]), "filters": filters}, shaped
