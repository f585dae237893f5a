"""A change as a list of steps: each renders as the equivalent `ip`/QMP command and runs live.

A ``Plan`` is built from the discovered topology alone (so ``--dry-run``
and the TUI's live preview cost no kernel call); ``execute`` runs it
against a ``Live`` context: prepare (snapshot) → steps → verify, and on
any failure the plan's rollback, whose own verification says whether the
snapshot was restored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol

from vnet_tui.core.errors import ChangeFailed
from vnet_tui.net.refusal import errno_of, explain

if TYPE_CHECKING:
    from .live import Live  # type only: live's change layer is not needed to describe a plan

Action = Callable[["Live"], Any]


@dataclass
class Step:
    """One change: the command an operator would type, and the call that makes it."""

    command: str
    action: Action


class StepObject(Protocol):
    """A typed step (a dataclass holding what it needs): ``describe`` renders it, ``do`` makes it."""

    def describe(self) -> str: ...

    def do(self, live: "Live") -> Any: ...


class Unverified(Exception):
    """Re-reading after the steps did not show what was asked."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _none(_live: "Live") -> list[str]:
    return []


@dataclass
class Plan:
    """What a change will do; filled in by ops.veth / ops.vme / ops.edit."""

    op: str  # "add" | "set" | "del"
    target: str  # container or VM name
    title: str  # "add eth1 to ct101"
    steps: list[Step] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # shown after the change (e.g. QEMU arguments)
    touched: list[tuple[str, str]] = field(default_factory=list)  # (namespace key, ifname) for the SSH guard
    route_dsts: list[str] = field(default_factory=list)  # destinations whose host routing changes
    prepare: Optional[Action] = None  # snapshot before the steps (may refine the steps)
    verify: Callable[["Live"], list[str]] = _none
    rollback: Callable[["Live"], list[str]] = _none  # undo; returns what could not be restored
    record: Callable[["Live"], dict[str, Any]] = lambda live: {}  # journal: target, before, after
    pending: bool = False  # e.g. a VM unplug the guest has not acknowledged yet
    persists: str = ""  # whether the change outlives a restart, and who keeps it (ops/persist.py)
    owner: dict[str, Any] = field(default_factory=dict)  # who owns the target: runtime, id, name (journaled)

    def commands(self) -> list[str]:
        return [s.command for s in self.steps]

    def add(self, command: str, action: Action) -> None:
        self.steps.append(Step(command, action))

    def add_step(self, step: StepObject) -> Step:
        """Add a typed step, rendered now (``--dry-run`` shows it); returns the plan's entry for it."""
        self.steps.append(Step(step.describe(), step.do))
        return self.steps[-1]


def execute(
    plan: Plan,
    live: "Live",
    begin: Optional[Callable[["Live"], Any]] = None,
    commit: Optional[Callable[["Live", dict[str, Any]], Any]] = None,
) -> dict[str, Any]:
    """Run the plan; on any failure roll back and raise ChangeFailed (exit 1).

    ``begin(live)`` runs after the snapshot and before the first step (the
    journal's write-ahead line, the revert timer): when it raises, nothing
    was changed and the error passes as it is.  ``commit(live, record)``
    runs after verification (the journal's completion line): when it
    raises, the change is rolled back like any failed step.
    Returns the journal record (target, before, after) of the applied change.
    """
    if plan.prepare is not None:
        plan.prepare(live)
    if begin is not None:
        begin(live)
    done = 0
    try:
        for step in plan.steps:
            step.action(live)
            done += 1
        problems = plan.verify(live)
        if problems:
            raise Unverified(problems)
        record = plan.record(live)
        if commit is not None:
            commit(live, record)
        return record
    except BaseException as exc:
        if done < len(plan.steps):
            where = f"step {done + 1} of {len(plan.steps)} ({plan.steps[done].command})"
            why = explain(exc, live.where_of(plan.steps[done].command)) if errno_of(exc) else str(exc)
        elif getattr(exc, "rule", "") == "journal":
            where, why = "journaling", str(exc)
        else:
            where, why = "verification", str(exc)
        try:
            left = plan.rollback(live)
        except Exception as rb:  # the rollback itself broke: say so, loudly
            left = [f"rollback stopped: {rb}"]
        if not isinstance(exc, Exception):
            raise
        if left:
            raise ChangeFailed(
                f"{plan.title} failed at {where}: {why}. Rolling back did NOT restore everything: "
                + "; ".join(left),
                rule="rollback-incomplete",
            ) from exc
        raise ChangeFailed(
            f"{plan.title} failed at {where}: {why}. Rolled back: nothing was left behind.",
            rule="rolled-back",
        ) from exc
