"""A policy change as steps, each with its command text, its action and its inverse.

``Step.action(port)`` makes the change; ``Step.inverse(port)`` puts back
what was there when the step was planned (the plan reads the port first),
and ``inverse_command`` says how an operator would do that by hand.  The
lead's ``ops.plan.Plan`` takes them as ``plan.add(step.command, lambda
live: step.action(port))`` with the inverses, in reverse order, as its
rollback; ``apply`` here does the same for library users and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from vnet_tui.core.errors import ChangeFailed

from .port import Port

Action = Callable[[Port], None]


@dataclass
class Step:
    """One change to one port, and how to take it back."""

    setting: str  # "cable", "rate_in", "rate_out", "mac_filter", "ip_filter", "isolated", "vlan"
    command: str  # the equivalent command (tc/nft/bridge/ip/QMP)
    action: Action
    inverse: Action
    inverse_command: str

    def __repr__(self) -> str:
        return f"Step({self.setting}: {self.command!r})"


def apply(port: Port, steps: list[Step]) -> None:
    """Run ``steps`` in order; on a failure run the inverses of the done ones (last first), then raise.

    Raises ``ChangeFailed`` (rule ``rolled-back``, or ``rollback-incomplete``
    naming what could not be put back), chained to the original error.
    """
    done: list[Step] = []
    for step in steps:
        try:
            step.action(port)
        except Exception as exc:
            left = rollback(port, done)
            where = f"step {len(done) + 1} of {len(steps)} ({step.command})"
            if left:
                raise ChangeFailed(f"{port.ifname}: failed at {where}: {exc}. Rolling back did NOT restore "
                                   "everything: " + "; ".join(left), rule="rollback-incomplete") from exc
            raise ChangeFailed(f"{port.ifname}: failed at {where}: {exc}. Rolled back: the port is as before.",
                               rule="rolled-back") from exc
        done.append(step)


def rollback(port: Port, done: list[Step]) -> list[str]:
    """The inverses of ``done``, last first; what could not be restored (empty: all of it)."""
    left: list[str] = []
    for step in reversed(done):
        try:
            step.inverse(port)
        except Exception as exc:  # keep going: restore as much as possible
            left.append(f"{step.inverse_command}: {exc}")
    return left


def commands(steps: list[Step]) -> list[str]:
    return [s.command for s in steps]
