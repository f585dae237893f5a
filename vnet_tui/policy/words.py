"""What a policy read comes to: its settable part (``settings``, what undo returns to) and short
words for a table cell or the detail view (``summary``).  Both take ``read``'s dict."""

from __future__ import annotations

from typing import Any


SETTINGS_KEYS = ("cable", "rate_in", "rate_out", "mac_filter", "ip_filter", "isolated")


def settings(policy: dict[str, Any]) -> dict[str, Any]:
    """The settable part of a read, without counters: what undo returns to, and what tests compare."""
    ri, ro = policy["rate_in"], policy["rate_out"]
    bp = policy["bridge_port"]
    return {
        "cable": policy["link"]["admin_up"] if policy["link"]["cable"] is not None else None,  # veth only
        "rate_in": {"rate_bps": ri["rate_bps"], "burst_bytes": ri["burst_bytes"], "ours": ri["ours"],
                    "mechanism": ri["mechanism"]} if ri else None,
        "rate_out": {"rate_bps": ro["rate_bps"], "burst_bytes": ro["burst_bytes"], "ours": ro["ours"],
                     "mechanism": ro["mechanism"]} if ro else None,
        "mac_filter": policy["mac_filter"]["mac"] if policy["mac_filter"] else None,
        "ip_filter": policy["ip_filter"]["addrs"] if policy["ip_filter"] else None,
        "isolated": {"isolated": bp["isolated"], "unicast_flood": bp["unicast_flood"]} if bp else None,
        "root_qdisc": {k: policy["root_qdisc"][k] for k in ("kind", "handle")},
        "ingress": policy["ingress"] is not None,
        "nft_chains": sorted(policy["nft"]["chains"].values()),
    }


def _rate_text(bps: int) -> str:
    for unit, n in (("gbit", 10**9), ("mbit", 10**6), ("kbit", 10**3)):
        if bps >= n and bps % (n // 1000 or 1) == 0:
            v = bps / n
            return f"{v:.12g}{unit}"
    return f"{bps}bit"


def summary(policy: dict[str, Any]) -> list[str]:
    """Short words for a table cell or the detail view: what is set on the port, and drops where there are any."""
    out: list[str] = []
    if policy["link"]["cable"] == "unplugged":
        out.append("cable unplugged")
    ri, ro = policy["rate_in"], policy["rate_out"]
    if ri:
        mark = "" if ri["ours"] else f" ({ri['mechanism']}, not ours)"
        out.append(f"rate-in {_rate_text(ri['rate_bps'])}{mark}" + (f" dropped {ri['drops']}" if ri["drops"] else ""))
    if ro:
        drops = ro.get("dropped_packets", ro.get("drops", 0))
        mark = "" if ro["ours"] else f" (via {ro.get('via')}, not ours)"
        out.append(f"rate-out {_rate_text(ro['rate_bps'])}{mark}" + (f" dropped {drops}" if drops else ""))
    for key, word in (("mac_filter", "mac-filter"), ("ip_filter", "ip-filter")):
        f = policy[key]
        if f:
            n = sum(c["packets"] for c in f["dropped"].values())
            out.append(word + (f" dropped {n}" if n else ""))
    bp = policy["bridge_port"]
    if bp and bp["isolated"]:
        out.append("isolated")
    if bp and not bp["unicast_flood"]:
        out.append("no-flood")
    if policy["vlans"]:
        pv = [v["vid"] for v in policy["vlans"] if v["pvid"]]
        tagged = [v["vid"] for v in policy["vlans"] if not v["untagged"]]
        out.append("vlan " + ",".join(map(str, pv)) + (" trunk " + ",".join(map(str, tagged)) if tagged else ""))
    return out
