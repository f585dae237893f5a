"""Kill a CLI run at its k-th ``sendto`` after its first ``fsync`` (the journal's write-ahead line).

The count starts at the fsync, so it does not depend on how many sends
came before it (discovery asks every namespace on the machine for its
nsid: other sessions' namespaces come and go).  How, with strace only:

1. the command starts stopped (``sh`` stops itself before it execs it);
2. a first strace attaches and holds the process at the fsync's exit
   (``inject=fsync:delay_exit``, the first fsync only); a SIGSTOP is sent
   to it there, which stays pending while strace holds it;
3. that strace is killed: the kernel lets the process go, and its pending
   SIGSTOP stops it right there — after the fsync, before anything else;
4. a second strace attaches and kills it at its k-th ``sendto`` from
   there (``inject=sendto:signal=SIGKILL:when=k``); SIGCONT resumes it.

Neither strace follows children (no ``-f``): the revert timer the change
spawns after its write-ahead line is neither traced nor killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from typing import Callable, Optional


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def _tracer(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("TracerPid:")).split()[1])


def _wait(cond: Callable[[], bool], what: str, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting: {what}")
        time.sleep(0.02)


def killed_after_fsync(argv: list[str], k: int, env: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess:
    """Run ``argv`` and SIGKILL it at its ``k``-th sendto after its first fsync; returns how it ended."""
    p = subprocess.Popen(["sh", "-c", 'kill -STOP $$; exec "$0" "$@"', *argv], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    tracers: list[subprocess.Popen] = []
    log = tempfile.NamedTemporaryFile("r", prefix="vt-killpoint-", suffix=".strace")
    try:
        _wait(lambda: _state(p.pid) == "T", "the command stopped before it starts")
        hold = subprocess.Popen(["strace", "-o", log.name, "-e", "trace=fsync",
                                 "-e", "inject=fsync:delay_exit=300s:when=1", "-p", str(p.pid)],
                                stderr=subprocess.DEVNULL)
        tracers.append(hold)
        _wait(lambda: _tracer(p.pid) == hold.pid, "the first strace attached")
        os.kill(p.pid, signal.SIGCONT)
        # held: strace has seen the fsync and the process sits in a tracing stop (its delayed exit)
        _wait(lambda: "fsync(" in open(log.name).read() and _state(p.pid) == "t", "the process held at its first fsync")
        os.kill(p.pid, signal.SIGSTOP)
        time.sleep(0.2)
        hold.kill()
        hold.wait(30)
        _wait(lambda: _tracer(p.pid) == 0 and _state(p.pid) == "T", "the process stopped just after its fsync")
        kill = subprocess.Popen(["strace", "-qq", "-o", "/dev/null", "-e", "trace=sendto",
                                 "-e", f"inject=sendto:signal=SIGKILL:when={k}", "-p", str(p.pid)],
                                stderr=subprocess.DEVNULL)
        tracers.append(kill)
        _wait(lambda: _tracer(p.pid) == kill.pid, "the second strace attached")
        os.kill(p.pid, signal.SIGCONT)
        out, err = p.communicate(timeout=120)
        kill.wait(30)
        return subprocess.CompletedProcess(argv, p.returncode, out, err)
    finally:
        for t in tracers:
            if t.poll() is None:
                t.kill()
                t.wait(30)
        if p.poll() is None:
            p.kill()
            p.wait(30)
        log.close()
