"""``lab down``: leave no namespace, process, link, socket or file of the lab.

Works from lab.json when there is one and from what the system shows when
there is not (a half-made lab): namespaces ``/run/netns/vl-NAME-*``,
processes titled ``vl-NAME-…``, QEMUs whose command line names the lab,
and any process inside one of the lab's namespaces.

Order: freeze the keeper (so it forks nothing more), kill QEMUs and holders
(the keeper ignores SIGCHLD, so the kernel reaps them at once), kill the
keeper, delete the taps, unpin the namespaces — the kernel then deletes each
namespace with everything in it, veth pairs included — and remove the files.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Optional

from vnet_tui.core.errors import ChangeFailed, NotFound, NotPermitted
from vnet_tui.core.server import check_lab_name, lab_host_netns
from vnet_tui.net.netns import NetnsError, open_netns
from vnet_tui.net.session import NetnsSocket

from . import kernel, nl, registry
from .registry import Proc

KILL_TIMEOUT = 10.0
UNPIN_THREADS = 64  # the unmounts wait for RCU grace periods, which overlap (5,000: 16 threads took 14 s under load)


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our child (the keeper, when up() ran in this process)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _kill(procs: Iterable[Proc], sig: int = signal.SIGKILL) -> None:
    for p in procs:
        if kernel.alive(p.pid, p.start):
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass


def _wait_gone(procs: list[Proc]) -> list[Proc]:
    """Wait until every process is gone (or a zombie); return those still running."""
    deadline = time.monotonic() + KILL_TIMEOUT
    left = procs
    while left:
        for p in left:
            _reap(p.pid)
        left = [p for p in left if kernel.alive(p.pid, p.start)]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.005)
    return left


def _known(state: Optional[dict]) -> tuple[list[Proc], set[int]]:
    """Processes lab.json names (pid and start time: alive or not, the caller checks), and the keeper's pid."""
    if not state:
        return [], set()
    procs = []
    keeper = set()
    kp, ks = state.get("keeper_pid"), state.get("keeper_start")
    if isinstance(kp, int):
        keeper.add(kp)
        if isinstance(ks, int):
            procs.append(Proc(kp, ks, ()))
    for item in list(state.get("containers") or []) + list(state.get("vms") or []):
        pid, start = item.get("pid"), item.get("start")
        if isinstance(pid, int) and isinstance(start, int):
            procs.append(Proc(pid, start, ()))
    return procs, keeper


def _stop_processes(name: str, state: Optional[dict]) -> int:
    host = lab_host_netns(name)
    known, keeper_pids = _known(state)
    stopped = 0
    for _round in range(5):
        inodes = registry.namespace_inodes(registry.lab_namespaces(name))
        found = {p.pid: p for p in registry.lab_processes(name, inodes)}
        for p in known:  # those the scan did not find (another pid namespace's view, a title changed)
            if p.pid not in found and kernel.alive(p.pid, p.start):
                found[p.pid] = p
        if not found:
            return stopped
        keepers = [p for p in found.values() if p.pid in keeper_pids or (p.argv and p.argv[0] == host)]
        others = [p for p in found.values() if p not in keepers]
        _kill(keepers, signal.SIGSTOP)
        _kill(others)
        left = _wait_gone(others)
        _kill(keepers)
        left += _wait_gone(keepers)
        stopped += len(found) - len(left)
        if left:
            raise ChangeFailed(f"lab {name}: processes did not stop: {', '.join(str(p.pid) for p in left)}",
                               rule="lab-down")
    raise ChangeFailed(f"lab {name}: processes keep appearing", rule="lab-down")


def _delete_taps(name: str, state: Optional[dict]) -> None:
    """Delete the host namespace's taps (persistent ones would outlive QEMU until the namespace goes).

    A lab recorded with no VMs made none, and the host namespace's links are not
    read (a dump of 5,000 containers' host ends takes seconds); otherwise every
    tun link there is deleted.
    """
    state = state or {}
    spec = state.get("spec")
    if (isinstance(spec, dict) and spec.get("vms") == 0) or (state.get("status") == "up" and state.get("vms") == []):
        return
    try:
        fd = open_netns(lab_host_netns(name))
    except NetnsError:
        return
    try:
        with NetnsSocket(fd) as s:
            taps = [l.ifname for l in s.links() if l.kind == "tun"]
        if taps:
            with nl.Batch(fd) as b:
                b.run([(nl.del_link(b.next_seq(), t), f"delete {t}") for t in taps])
    finally:
        os.close(fd)


def teardown(name: str, progress: Optional[Callable[[str], None]] = None) -> None:
    """Remove everything of lab ``name`` that exists; raise ChangeFailed if something stays."""
    state = registry.read_state(name)
    n = _stop_processes(name, state)
    if progress and n >= 100:
        progress(f"stopped {n} processes")
    _delete_taps(name, state)
    names = registry.lab_namespaces(name)
    # each unmount ends waiting for an RCU grace period outside the mount lock:
    # from several threads those waits overlap (1,000 namespaces: ~3x faster)
    with ThreadPoolExecutor(max_workers=max(1, min(UNPIN_THREADS, len(names)))) as pool:
        list(pool.map(kernel.unpin_netns, names))
    if progress and len(names) >= 100:
        progress(f"removed {len(names)} namespaces")
    shutil.rmtree(registry.lab_dir(name), ignore_errors=True)
    # (no process is left: _stop_processes returned after a scan that found none)
    left_ns = registry.lab_namespaces(name)
    if left_ns or os.path.exists(registry.lab_dir(name)):
        raise ChangeFailed(f"lab {name}: left behind: namespaces {left_ns[:5]}", rule="lab-down")


def exists(name: str) -> bool:
    """Is anything of lab ``name`` present (files, namespaces or processes)?"""
    return bool(os.path.isdir(registry.lab_dir(name)) or registry.lab_namespaces(name)
                or registry.lab_processes(name))


def down(name: str, progress: Optional[Callable[[str], None]] = None) -> None:
    """Take lab ``name`` down completely; NotFound (exit 4) when there is no such lab."""
    check_lab_name(name)
    if os.geteuid() != 0:
        raise NotPermitted("a lab needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN)", rule="privilege")
    if not exists(name):
        raise NotFound(f"no lab {name!r}", rule="lab")
    teardown(name, progress)
