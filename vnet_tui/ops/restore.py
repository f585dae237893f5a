"""One end converged back to a snapshot: an edit's rollback (``restore``) and its undo (``plan_restore``).

The undo's prepare finds the end as it is now — by ifindex, or by name
when the pair was re-created since — and its verify, rollback and record
use that (``EndRestore``'s ``now``), never a scratch dict.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

from vnet_tui.core.errors import NotFound

from .converge import converge
from .endstate import EndSnapshot, differences, read_end, wait_dad
from .live import Live
from .plan import Plan


def restore(live: Live, key: str, label: Optional[str], before: Optional[EndSnapshot]) -> list[str]:
    """Converge the end back to ``before``; return what differs afterwards."""
    if before is None:
        return []
    ns = live.ns(key)
    now = read_end(ns, index=before.ifindex)
    if now is None:
        return [f"{before.ifname} disappeared"]
    for step in converge(key, label, now, before):
        try:
            step.action(live)
        except Exception:  # keep going: restore as much as possible, report the rest
            pass
    if before.up and before.has_ipv6():
        wait_dad(ns, now.ifindex)  # addresses put back on an up link go through DAD again
    return differences(replace(before, ifindex=now.ifindex), read_end(ns, index=now.ifindex))


def plan_restore(
    lab: dict[str, Optional[str]],
    owner: str,
    t: dict[str, Any],
    before: EndSnapshot,
    after: Optional[dict[str, Any]],
) -> Plan:
    """Converge one end back to ``before`` (undo of an edit)."""
    key, label = t["ns"], lab[t["ns"]]
    plan = Plan("set", owner, f"restore {before.ifname} ({t.get('end')} end of {t.get('adapter')})")
    plan.touched = [(key, before.ifname)]
    run = EndRestore(plan, key, label, t, before, after)
    plan.prepare = run.prepare
    plan.steps = converge(key, label, EndSnapshot.from_json(after) if after else before, before)
    plan.verify, plan.rollback, plan.record = run.verify, run.rollback, run.record
    return plan


@dataclass
class EndRestore:
    """An edit's undo: prepare finds the end as it is now (``now``), which the others use."""

    plan: Plan  # prepare replaces its steps and may warn
    key: str
    label: Optional[str]
    target: dict[str, Any]  # the journal's target, journaled again
    before: EndSnapshot
    after: Optional[dict[str, Any]]
    now: Optional[EndSnapshot] = None

    def prepare(self, live: Live) -> None:
        key, before = self.key, self.before
        # by ifindex; by name when the pair was re-created since (undo of a delete)
        now = read_end(live.ns(key), index=before.ifindex) or read_end(live.ns(key), before.ifname)
        if now is not None and now.ifname != before.ifname:
            now = read_end(live.ns(key), before.ifname)
        if now is None:
            raise NotFound(f"{before.ifname} is gone: the edit cannot be undone", rule="undo-target")
        if self.after and differences(EndSnapshot.from_json(self.after), now):
            self.plan.warnings.append(f"{before.ifname} changed again since; restoring the state before the edit")
        self.now = now
        self.plan.steps = converge(key, self.label, now, before)

    def verify(self, live: Live) -> list[str]:
        assert self.now is not None
        return differences(self.before, read_end(live.ns(self.key), index=self.now.ifindex))

    def rollback(self, live: Live) -> list[str]:
        return restore(live, self.key, self.label, self.now)

    def record(self, live: Live) -> dict[str, Any]:
        assert self.now is not None
        got = read_end(live.ns(self.key), index=self.now.ifindex)
        return {"target": self.target, "before": self.now.to_json(), "after": got.to_json() if got else None}
