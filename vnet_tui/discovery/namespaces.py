"""Every network namespace on the server, keyed by inode, with who holds it.

Two sources, no psutil (it costs ~5x more in this loop):

* bind mounts: ``nsfs`` entries of ``/proc/self/mountinfo`` whose root is
  ``net:[INODE]`` — ``/run/netns/NAME`` (``ip netns``), ``/run/docker/netns/ID``
  and any other place a runtime pinned a namespace;
* processes: one ``stat(/proc/PID/ns/net)`` per numeric ``/proc`` entry.

Races.  Processes exit mid-scan (ENOENT/ESRCH: skipped) and some are not
ours to look at (EACCES: skipped).  A single ``stat`` is atomic, so a pid
reused between ``scandir`` and ``stat`` is simply recorded with the new
process's namespace — a true fact at that moment.  What can go stale is
the pid list by the time someone uses it, so :func:`leader_pid` re-checks,
immediately before answering, that the pid still lives in the namespace
(``stat`` again, same inode) and is not a kernel thread.  Threads that
``setns`` away from their process are not seen: ``/proc`` lists processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

NETNS_DIRS = ("/run/netns", "/var/run/netns")  # what `ip netns` names
PF_KTHREAD = 0x00200000
_GONE = (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError)


@dataclass
class NsInfo:
    """One network namespace: its inode, names, bind-mount paths and processes."""

    inode: int
    names: list[str] = field(default_factory=list)  # under /run/netns, sorted
    paths: list[str] = field(default_factory=list)  # nsfs bind-mount paths, sorted
    pids: list[int] = field(default_factory=list)  # processes inside, sorted


def _unescape_mount(path: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as ``\\ooo``."""
    if "\\" not in path:
        return path
    out, i = [], 0
    while i < len(path):
        if path[i] == "\\" and path[i + 1 : i + 4].isdigit():
            out.append(chr(int(path[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def netns_mounts(mountinfo: str) -> Iterator[tuple[int, str]]:
    """(inode, mount point) of each network-namespace bind mount in ``mountinfo``."""
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep or not right.startswith("nsfs "):
            continue
        fields = left.split()
        if len(fields) < 5:
            continue
        root, mountpoint = fields[3], _unescape_mount(fields[4])
        # nsfs shows "TYPE:[INODE]" as the root: the inode that stat() gives
        if root.startswith("net:[") and root.endswith("]") and root[5:-1].isdigit():
            yield int(root[5:-1]), mountpoint


def _read_mountinfo() -> str:
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except OSError:
        return ""


def _pid_namespaces() -> Iterator[tuple[int, int]]:
    """(pid, netns inode) of every process we may look at."""
    stat = os.stat
    with os.scandir("/proc") as it:
        for entry in it:
            name = entry.name
            if not name.isdigit():
                continue
            try:
                yield int(name), stat(f"/proc/{name}/ns/net").st_ino
            except _GONE:
                continue


def scan_namespaces(root_inode: Optional[int] = None) -> dict[int, NsInfo]:
    """Every network namespace found, keyed by inode.

    ``root_inode`` is the host's namespace: it is left out of the result
    (the host is not a container), even if it is bind-mounted.  With
    None, nothing is left out.
    """
    found: dict[int, NsInfo] = {}
    for inode, path in netns_mounts(_read_mountinfo()):
        info = found.setdefault(inode, NsInfo(inode))
        if path not in info.paths:
            info.paths.append(path)
        if os.path.dirname(path) in NETNS_DIRS:
            name = os.path.basename(path)
            if name not in info.names:
                info.names.append(name)
    for pid, inode in _pid_namespaces():
        info = found.get(inode)
        if info is None:
            info = found[inode] = NsInfo(inode)
        info.pids.append(pid)
    if root_inode is not None:
        found.pop(root_inode, None)
    for info in found.values():
        info.names.sort()
        info.paths.sort()
        info.pids.sort()
    return found


def _stat_fields(pid: int) -> Optional[list[bytes]]:
    """The fields of /proc/PID/stat after the command (state first), or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except _GONE:
        return None
    # comm may hold spaces and parentheses: the fields start after the last ')'
    return data[data.rfind(b")") + 2 :].split()


def _is_kthread(fields: list[bytes]) -> Optional[bool]:
    try:
        return bool(int(fields[6]) & PF_KTHREAD)
    except (IndexError, ValueError):
        return None


def is_kernel_thread(pid: int) -> Optional[bool]:
    """True for a kernel thread (PF_KTHREAD), None if the process is gone."""
    fields = _stat_fields(pid)
    return None if fields is None else _is_kthread(fields)


def leader(info: NsInfo, procs: Any = None) -> tuple[Optional[int], Optional[str]]:
    """(pid, state) of the lowest pid in the namespace that is not a kernel thread, or (None, None).

    Checked now, not at scan time: the pid must still be in ``info.inode``.
    The state ("stopped" for a SIGSTOPped process, else "running") comes
    from the same read of its stat as the kernel-thread check; ``procs``
    (an ``owners.base.ProcTable`` read a moment ago) answers both for the
    processes it has, without reading their stat again.
    """
    for pid in sorted(info.pids):
        if procs is not None and pid in procs.states:
            if pid in procs.kthreads:
                continue
            letter = procs.states[pid][:1]
        else:
            fields = _stat_fields(pid)
            if fields is None or _is_kthread(fields) is not False:
                continue
            letter = fields[0][:1].decode()
        try:
            if os.stat(f"/proc/{pid}/ns/net").st_ino != info.inode:
                continue
        except _GONE:
            continue
        return pid, ("stopped" if letter in ("T", "t") else "running")
    return None, None


def leader_pid(info: NsInfo) -> Optional[int]:
    """The lowest pid in the namespace that is not a kernel thread, or None (``leader``)."""
    return leader(info)[0]


def proc_comm(pid: int) -> Optional[str]:
    """The process's ``comm`` (its short name), or None if it is gone or hidden."""
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().rstrip("\n")
    except _GONE:
        return None
