"""A guest NIC's address change as typed steps and checks (the plan is ``guestaddr``'s).

``GuestAddr`` (one ``ip addr add|del`` run by the guest agent) renders as
``qga VM guest-exec ip addr …``; it notes itself in ``GuestNicChange.done``
before it runs (a guest-exec that timed out may still have done it).
``GuestNicChange`` holds what the steps and the checks hand each other —
the NIC, the addresses before, wanted and read back, the steps started —
and its methods are the plan's prepare, verify, rollback and record:
never a scratch dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from vnet_tui.core.errors import ChangeFailed, InvalidInput
from vnet_tui.core.model import VM

from .guestagent import _connect, _nic, guest_exec


def guest_command(vm: VM, verb: str, addr: str, ifname: str) -> tuple[str, list[str]]:
    """(the command as rendered, the argv the guest runs) of ``ip addr VERB ADDR dev IFNAME``."""
    argv = ["ip", "addr", verb, addr, "dev", ifname]
    return f"qga {vm.name} guest-exec {' '.join(argv)}", argv


def agent(vm: VM) -> Any:
    """A connection for one use (``with agent(vm) as q``): the agent's socket takes one client at a
    time, so none is held between steps (nor left open when something between them fails)."""
    return _connect(vm)


@dataclass
class GuestNicChange:
    """One guest NIC's addresses from ``before`` to ``want``: what its steps and checks share."""

    vm: VM
    mac: str
    ifname: str
    before: list[str]
    want: list[str]
    target: dict[str, Any]
    done: list[tuple[str, str]] = field(default_factory=list)  # (verb, address) of the steps started
    after: Optional[list[str]] = None  # what verify read

    def run(self, verb: str, addr: str) -> None:
        _, argv = guest_command(self.vm, verb, addr, self.ifname)
        self.done.append((verb, addr))  # before it runs: a guest-exec that timed out may still have done it
        with agent(self.vm) as q:
            code, out = guest_exec(q, argv)
        if code != 0:
            raise ChangeFailed(f"in {self.vm.name}'s guest, {' '.join(argv)} exited {code}: {out or 'no output'}",
                               rule="guest-exec")

    def prepare(self, live: Any) -> None:
        vm = self.vm
        with agent(vm) as q:
            name, now = _nic(vm, q, self.mac)
        if name != self.ifname or now != sorted(self.before):
            raise InvalidInput(f"{vm.name}'s guest NIC {self.mac} changed since it was read ({name}: "
                               f"{', '.join(now) or 'no address'}); look again", rule="stale-view")

    def verify(self, live: Any) -> list[str]:
        with agent(self.vm) as q:
            _, now = _nic(self.vm, q, self.mac)
        self.after = now
        if now == self.want:
            return []
        missing = sorted(set(self.want) - set(now))
        extra = sorted(set(now) - set(self.want))
        return [f"the guest agent shows {self.ifname} " + "; ".join(
            ([f"without {', '.join(missing)}"] if missing else []) + ([f"still with {', '.join(extra)}"] if extra
                                                                      else []))]

    def rollback(self, live: Any) -> list[str]:
        """The inverse of each step done, newest first; then the NIC must show the addresses before."""
        vm, left = self.vm, []
        try:
            with agent(vm) as q:
                _, now = _nic(vm, q, self.mac)
                for verb, addr in reversed(self.done):
                    if (addr in now) != (verb == "add"):
                        continue  # the step started but did not happen (it failed): nothing to undo
                    _, argv = guest_command(vm, "del" if verb == "add" else "add", addr, self.ifname)
                    try:
                        code, out = guest_exec(q, argv)
                        if code != 0:
                            left.append(f"{' '.join(argv)} in the guest: exit {code} {out}")
                    except Exception as e:
                        left.append(f"{' '.join(argv)} in the guest: {e}")
                _, now = _nic(vm, q, self.mac)
            if now != sorted(self.before):
                left.append(f"the guest's {self.ifname} has {', '.join(now) or 'no address'}, "
                            f"not {', '.join(self.before) or 'no address'} as before")
        except Exception as e:
            left.append(f"{vm.name}'s guest agent: {e}")
        return left

    def record(self, live: Any) -> dict[str, Any]:
        after = self.after
        if after is None:  # before the steps (the journal's write-ahead line): what is planned
            after = self.want
        return {"target": self.target,
                "before": {"ifname": self.ifname, "mac": self.mac, "addresses": sorted(self.before)},
                "after": {"ifname": self.ifname, "mac": self.mac, "addresses": after}}


@dataclass
class GuestAddr:
    """Step: ``ip addr add|del ADDRESS dev IFNAME`` run in the guest by its agent (``guest-exec``)."""

    change: GuestNicChange
    verb: str  # "add" | "del"
    address: str

    def describe(self) -> str:
        c = self.change
        return guest_command(c.vm, self.verb, self.address, c.ifname)[0]

    def do(self, live: Any) -> None:
        self.change.run(self.verb, self.address)
