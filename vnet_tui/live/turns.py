"""Sweeping in turns: past a budget of namespaces, each sweep reads the hot ones and a share of the rest.

With up to ``budget`` container namespaces one plan reads them all at
every sweep.  Past it (5,000 containers), the plans are turns: each
reads the host, the *hot* namespaces (those whose ends are on screen)
and every n-th of the others, n chosen so that a turn reads about
``turn`` of them: a cold end's rate is at most n sweeps old (5,000
containers, 500 a turn: 10 s at 1 s) while what the operator looks at
moves every sweep.
"""

from __future__ import annotations

from typing import Any, Mapping

from vnet_tui.net.sweep import SweepPlan

from .feed import EndKey


def plan_turns(nss: list[Any], ends: dict[int, list[int]], states: Mapping[int, Any], hot: frozenset[EndKey],
               budget: int, turn: int) -> list[SweepPlan]:
    """One plan for every namespace (``nss[0]`` is the host), or past ``budget`` one per turn of ~``turn``.

    The host is dumped whole in the first turn; in the others only its
    ends on screen are read (get requests), if any.
    """
    if len(nss) - 1 <= budget:
        return [SweepPlan(nss, ends)]
    host, rest = nss[0], nss[1:]
    hot_ns = {k[0] for k in hot}
    hot_nss = [ns for ns in rest if ns.inode in hot_ns]
    cold = [ns for ns in rest if ns.inode not in hot_ns]
    turns = max(1, -(-len(cold) // turn))
    st = states.get(host.inode)
    known = {l.ifindex for l in st.links} if st is not None else set()
    hot_host = sorted(k[1] for k in hot if k[0] == host.inode and k[1] in known)
    plans = [SweepPlan([host, *hot_nss, *cold[0::turns]], ends)]
    for i in range(1, turns):
        if hot_host:
            plans.append(SweepPlan([host, *hot_nss, *cold[i::turns]], {**ends, host.inode: hot_host}))
        else:
            plans.append(SweepPlan([*hot_nss, *cold[i::turns]], ends))
    return plans
