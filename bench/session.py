"""One benchmark run's resources, and leaving nothing behind.

Everything the benchmark makes lives in lab namespaces ``vl-NAME-…`` (labs
built by ``lab up`` or by the ``ip -batch`` baseline under a lab name) and
in a private state folder (``$VNET_TUI_STATE`` for this run: lab files,
QMP sockets, the ops journal).  ``Session.close`` takes every lab down,
ends every process the run started (by pid) and removes the folder — also
on an exception, Ctrl-C or SIGTERM.  The root namespace's network is never
touched: every ``ip`` call names a lab namespace with ``-n``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Optional

from vnet_tui.core.errors import NotFound
from vnet_tui.lab import LabInfo, down, up

from .common import IP


def unique(prefix: str = "b") -> str:
    """A lab name nobody else uses (1–8 of a-z0-9), like tests.helpers.unique."""
    import secrets

    return prefix + secrets.token_hex(3)


class Interrupted(Exception):
    """SIGTERM/SIGHUP: unwind through every ``finally`` like Ctrl-C does."""


class Session:
    """Labs, processes and files of one run; ``close`` removes them all."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        self.state = tempfile.mkdtemp(prefix="vnb-", dir="/tmp")  # short: QMP socket paths
        self._old_state = os.environ.get("VNET_TUI_STATE")
        os.environ["VNET_TUI_STATE"] = self.state
        self.labs: list[str] = []  # names whose vl-NAME-* namespaces this run may have made
        self.made: list[str] = []  # every lab name this run used
        self.procs: list[subprocess.Popen] = []
        self.tmux_sockets: list[str] = []
        self._old_handlers: dict[int, Any] = {}
        Session._owner = os.getpid()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            self._old_handlers[sig] = signal.signal(sig, self._raise)

    _owner = os.getpid()

    @classmethod
    def _raise(cls, signum: int, _frame: Any) -> None:
        if os.getpid() != cls._owner:  # a forked helper (pyroute2's netns child): die as usual
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise Interrupted(f"signal {signum}")

    # -- labs ---------------------------------------------------------------
    def new_lab_name(self, prefix: str = "b") -> str:
        name = unique(prefix)
        self.labs.append(name)
        self.made.append(name)
        return name

    def lab_up(self, containers: int, vms: int, prefix: str = "b") -> LabInfo:
        """A lab of ours (VMs stay paused: no boot hook)."""
        name = self.new_lab_name(prefix)
        return up(name, containers=containers, vms=vms, seed=7)

    def lab_down(self, name: str) -> None:
        try:
            down(name)
        except NotFound:  # up() failed and removed what it made, or only ip made it
            pass
        left = [n for n in os.listdir("/run/netns") if n.startswith(f"vl-{name}-")]
        if left:  # namespaces made by the ip -batch baseline without a keeper
            subprocess.run([IP, "-batch", "-"], input="".join(f"netns del {n}\n" for n in left),
                           capture_output=True, text=True)
        if name in self.labs:
            self.labs.remove(name)

    # -- processes ------------------------------------------------------------
    def popen(self, argv: list[str], **kw: Any) -> subprocess.Popen:
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def tmux(self) -> str:
        """A private tmux server socket for this run (never the user's)."""
        sock = unique("vnb")
        self.tmux_sockets.append(sock)
        return sock

    # -- the end --------------------------------------------------------------
    def close(self) -> list[str]:
        """Remove everything; returns what could not be removed."""
        problems: list[str] = []
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave a lab
        try:
            for sock in self.tmux_sockets:
                subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
            for p in self.procs:
                if p.poll() is None:
                    p.kill()
                    try:
                        p.wait(5)
                    except subprocess.TimeoutExpired:
                        problems.append(f"process {p.pid} did not end")
            for name in list(self.labs):
                t0 = time.monotonic()
                try:
                    self.lab_down(name)
                    self.log(f"removed lab {name} ({time.monotonic() - t0:.1f} s)")
                except Exception as e:  # keep removing the others
                    problems.append(f"lab {name}: {e}")
            left = [n for n in os.listdir("/run/netns")
                    if any(n.startswith(f"vl-{lab}-") for lab in self.made)]
            problems += [f"namespace {n} left" for n in left]
            shutil.rmtree(self.state, ignore_errors=True)
            if self._old_state is None:
                os.environ.pop("VNET_TUI_STATE", None)
            else:
                os.environ["VNET_TUI_STATE"] = self._old_state
        finally:
            for sig, h in self._old_handlers.items():
                signal.signal(sig, h)
            signal.signal(signal.SIGINT, old_int)
        for p in problems:
            print(f"bench: cleanup: {p}", file=sys.stderr)
        return problems

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_quiet(argv: list[str], timeout: Optional[float] = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
