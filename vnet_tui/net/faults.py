"""The fault-injection switch: every change vnet-tui makes passes one checkpoint here.

``ChangeNs``'s write methods — links, addresses, routes, sysctls, taps —
and ``qmp_call`` each count one change call, so the switch can fail any
of them:

* ``faults.arm(n, errno)`` (or ``with faults.armed(n, errno):``) makes the
  n-th change from now fail with ``errno``, once;
* the environment variable ``VNET_TUI_FAULT="N:ERRNO"`` (``3:EEXIST`` or
  ``3:17``) arms it at import, for tests that drive the CLI.

A netlink change fails with pyroute2's ``NetlinkError`` (as the kernel's
refusal would); sysctl, tap and QMP changes with ``OSError``.
"""

from __future__ import annotations

import errno as E
import os
from contextlib import contextmanager
from typing import Any, Iterator, Optional


FAULT_ENV = "VNET_TUI_FAULT"


class Faults:
    """The fault-injection switch: fail the n-th change call with a chosen errno."""

    def __init__(self) -> None:
        self.calls = 0  # change calls since the last arm()/reset()
        self._fail_at: Optional[int] = None
        self._errno = 0
        self.fired: Optional[str] = None  # what the injected fault hit

    def arm(self, n: int, err: int) -> None:
        """Fail the n-th change call from now (1 = the next one) with ``err``."""
        self.calls, self._fail_at, self._errno, self.fired = 0, n, err, None

    def disarm(self) -> None:
        self._fail_at = None

    def reset(self) -> None:
        """Start counting again, unarmed (``calls`` then counts the steps of an operation)."""
        self.arm(0, 0)
        self._fail_at = None

    @contextmanager
    def armed(self, n: int, err: int) -> Iterator["Faults"]:
        self.arm(n, err)
        try:
            yield self
        finally:
            self.disarm()

    def load_env(self, value: Optional[str]) -> None:
        """Arm from ``N:ERRNO`` (an errno name or number); empty: leave unarmed."""
        if not value:
            return
        n, _, name = value.partition(":")
        err = int(name) if name.isdigit() else getattr(E, name or "EIO", E.EIO)
        self.arm(int(n), err)

    def checkpoint(self, what: str, netlink: bool = True) -> None:
        """Count one change call; raise the injected fault if this is the armed one."""
        self.calls += 1
        if self._fail_at is not None and self.calls == self._fail_at:
            self._fail_at = None
            self.fired = what
            if netlink:
                from pyroute2.netlink.exceptions import NetlinkError  # deferred: importing pyroute2 costs 0.2 s

                raise NetlinkError(self._errno, f"{os.strerror(self._errno)} (injected at {what})")
            raise OSError(self._errno, f"{os.strerror(self._errno)} (injected at {what})")


faults = Faults()
faults.load_env(os.environ.get(FAULT_ENV))


def qmp_call(client: Any, execute: str, **args: Any) -> Any:
    """One QMP change command (``client.cmd``), counted by the fault switch."""
    faults.checkpoint(f"qmp {execute}", netlink=False)
    return client.cmd(execute, **args)
