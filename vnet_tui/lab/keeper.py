"""The lab's keeper: one small process that becomes the lab's host and parents its processes.

Run as ``python -m vnet_tui.lab.keeper`` by ``lab up``, in a new session,
with the plan as one JSON line on stdin.  It

1. enters new network + UTS namespaces, names them (``/run/netns/vl-NAME-host``,
   hostname NAME) and brings loopback up, then reports ``K <pid>``;
2. waits for ``V`` on stdin (the builder made the bridge and the taps), starts
   each VM's QEMU in the host namespace and reports ``V <i> <pid>``;
3. makes each container's namespaces itself, one after the other: enters new
   network + UTS namespaces, sets the hostname, pins the
   namespace at ``/run/netns/vl-NAME-ctNNN`` and spawns the container's
   holder there (``sleep infinity`` titled with the namespace's name, by
   ``posix_spawn``: no copy of this process per container), then reports
   ``H <i> <pid>`` (lines go out in small batches);
4. returns to the host's namespaces, reports ``D`` and becomes ``sleep
   infinity`` titled ``vl-NAME-host``.

The keeper ignores SIGCHLD, which it keeps across exec, so the kernel
reaps its children the moment ``lab down`` kills them: on a machine whose
init does not reap orphans, a lab of 1,000 containers leaves no zombies.
Errors are reported as ``E <where> <message>``; stdout carries nothing else.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import sys
import time
from typing import Any

from . import kernel, nl

RESET_SIGNALS = (signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM)


class Reporter:
    """Report lines to the builder; ``later`` ones are held until ``flush`` (or until enough wait)."""

    HOLD = 32  # lines
    HOLD_S = 0.02  # s: the builder hears of a new container within this

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.held: list[bytes] = []
        self.since = 0.0

    def __call__(self, *words: object) -> None:
        self.later(*words)
        self.flush()

    def later(self, *words: object) -> None:
        line = " ".join(str(w) for w in words).replace("\n", " ")[:3000] + "\n"
        if not self.held:
            self.since = time.monotonic()
        self.held.append(line.encode("utf-8", "replace"))
        if len(self.held) >= self.HOLD or time.monotonic() - self.since >= self.HOLD_S:
            self.flush()

    def flush(self) -> None:
        if self.held:
            data, self.held = b"".join(self.held), []
            while data:
                data = data[os.write(self.fd, data):]


def _new_namespaces(netns: str, hostname: str, sysctls: list[list[str]]) -> None:
    """Move this process into new network + UTS namespaces, named ``netns`` (pinned)."""
    kernel.unshare(kernel.CLONE_NEWNET | kernel.CLONE_NEWUTS)
    socket.sethostname(hostname)
    for path, value in sysctls:
        kernel.write_sysctl(path, value)
    kernel.pin_netns(netns)


def _said(e: BaseException) -> str:
    """An error as reported: ``errno:N text`` for an OSError (the builder names the limit)."""
    if isinstance(e, OSError) and e.errno:
        return f"errno:{e.errno} {e}"
    return f"{type(e).__name__}: {e}"


def _spawn_vm(argv: list[str], log: str) -> int:
    return os.posix_spawn(
        argv[0], argv, dict(os.environ),
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsigdef=RESET_SIGNALS,
    )


def _spawn_holder(sleep: str, netns: str) -> int:
    """``sleep infinity`` titled ``netns``, in this process's namespaces now."""
    return os.posix_spawn(sleep, [netns, "infinity"], os.environ, setsigdef=RESET_SIGNALS)


def _read_command(fd: int) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 64)
        if not chunk:
            return ""
        data += chunk
    return data.decode().strip()


def run(plan: dict[str, Any], report: Reporter, cmd_fd: int) -> None:
    # children inherit SIG_IGN for SIGCHLD only where we want it (us, then our sleep)
    for sig in RESET_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    os.chdir("/")
    _new_namespaces(plan["host_netns"], plan["hostname"], plan["host_sysctls"])
    with nl.Batch(None) as b:
        b.run([(nl.set_link(b.next_seq(), "lo"), "loopback up")])
    host_net = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    host_uts = os.open("/proc/thread-self/ns/uts", os.O_RDONLY | os.O_CLOEXEC)
    report("K", os.getpid())
    if _read_command(cmd_fd) != "V":
        raise SystemExit(1)  # the builder gave up
    for i, (argv, log) in enumerate(plan["vms"]):
        report("V", i, _spawn_vm(argv, log))
    sleep = plan["sleep"]
    for i, (netns, hostname) in enumerate(plan["containers"]):
        try:
            _new_namespaces(netns, hostname, plan["ct_sysctls"])
            pid = _spawn_holder(sleep, netns)
        except OSError as e:
            report.flush()
            what = "fork of holder" if e.errno == errno.EAGAIN else "namespaces of"
            report("E", f"ct:{i}", f"errno:{e.errno} {what} {netns}: {e.strerror or e}")
            raise SystemExit(1) from e
        report.later("H", i, pid)
    kernel.setns(host_net, kernel.CLONE_NEWNET)
    kernel.setns(host_uts, kernel.CLONE_NEWUTS)
    report.later("D")
    report.flush()
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 2)
    os.execv(sleep, [plan["host_netns"], "infinity"])


def main() -> None:
    # stdin: plan + commands; stdout: reports.  Keep them on close-on-exec
    # copies so nothing we exec (sleep, QEMU) holds the builder's pipes.
    cmd_fd, out_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    report = Reporter(out_fd)
    try:
        line = b""
        while not line.endswith(b"\n"):
            chunk = os.read(cmd_fd, 1 << 16)
            if not chunk:
                raise SystemExit(1)
            line += chunk
        run(json.loads(line), report, cmd_fd)
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - reported to the builder
        report("E", "keeper", _said(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
