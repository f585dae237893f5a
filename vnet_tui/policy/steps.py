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
from typing import Any, Callable, Optional

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
    # an nftables step's transaction and its inverse, as planned (``merge_nft`` joins them)
    nft: Optional[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = None
    nft_text: tuple[str, str] = ("", "")  # the same as nft(8) scripts

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


def merge_nft(port: Port, steps: list[Step]) -> list[Step]:
    """One nftables transaction for all of a plan's nftables steps (at the place of the first).

    libnftables fetches the namespace's whole ruleset before each
    transaction that adds a chain or rule; one transaction instead of
    three costs one fetch, and is all-or-nothing in the kernel.
    """
    nfts = [s for s in steps if s.nft is not None]
    if len(nfts) < 2:
        return steps
    forward = [c for s in nfts for c in s.nft[0]]  # type: ignore[index]
    backward = [c for s in reversed(nfts) for c in s.nft[1]]  # type: ignore[index]

    def run(cmds: list[dict[str, Any]], what: str) -> Action:
        def act(p: Port) -> None:
            p.change(f"nft {what} {p.ifname}", lambda: p.nft(cmds), netlink=False)
        return act

    fwd_text = "; ".join(s.nft_text[0] for s in nfts)
    back_text = "; ".join(s.nft_text[1] for s in reversed(nfts))
    merged = Step("+".join(s.setting for s in nfts), port.cmd("nft", fwd_text), run(forward, "batch"),
                  run(backward, "batch undo"), port.cmd("nft", back_text), nft=(forward, backward),
                  nft_text=(fwd_text, back_text))
    out: list[Step] = []
    for s in steps:
        if s.nft is None:
            out.append(s)
        elif s is nfts[0]:
            out.append(merged)
    return out
