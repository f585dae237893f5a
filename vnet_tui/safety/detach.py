"""Start a vnet-tui module as a process that outlives us, the TUI and the SSH session.

With systemd running (``/run/systemd/system``) and ``systemd-run``
present, the job becomes a transient unit: it leaves the SSH session's
cgroup, so logind's KillUserProcesses cannot take it down.  Otherwise it
is spawned in a new session (``setsid``: no controlling terminal, no
SIGHUP when the session ends) and forks once more itself (``--detached``
handling in ``daemonize``) so it is re-parented away from us.
The fault-injection switch is never passed on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

from vnet_tui.net.faults import FAULT_ENV

from .journal import STATE_ENV, state_dir


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    env[STATE_ENV] = str(state_dir().resolve())
    pkg_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def use_systemd() -> bool:
    return (
        os.path.isdir("/run/systemd/system")
        and shutil.which("systemd-run") is not None
        and os.environ.get("VNET_TUI_NO_SYSTEMD") is None
    )


def log_of(unit: str) -> Path:
    return state_dir() / f"{unit}.log"


def spawn(module: str, args: list[str], unit: str) -> dict[str, Optional[str]]:
    """Run ``python -m module args…`` detached; returns how ({"via", "unit"})."""
    env = _env()
    argv = [sys.executable, "-m", module, *args]
    log = log_of(unit)
    if use_systemd():
        cmd = ["systemd-run", "--quiet", "--collect", f"--unit={unit}"]
        cmd += [f"--setenv={k}={env[k]}" for k in (STATE_ENV, "PYTHONPATH") if k in env]
        r = subprocess.run(cmd + argv, capture_output=True, text=True)
        if r.returncode == 0:
            return {"via": "systemd-run", "unit": unit}
    with open(log, "ab") as out:
        child = subprocess.Popen(
            argv + ["--detached"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
            start_new_session=True,
            close_fds=True,
            cwd="/",
        )
    child.wait()  # the first child forks the real worker and exits at once
    return {"via": "setsid", "unit": unit}


def daemonize() -> None:
    """In the spawned process: fork once more; the parent exits, the worker carries on."""
    if os.fork() > 0:
        os._exit(0)


def drop_empty_log(unit: str) -> None:
    """At a detached worker's end: remove its log when nothing was written to it."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
        if sys.stderr is not None:
            sys.stderr.flush()
        log = log_of(unit)
        if log.stat().st_size == 0:
            log.unlink()
    except OSError:
        pass
