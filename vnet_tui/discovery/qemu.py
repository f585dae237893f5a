"""VMs: QEMU processes, their names, QMP sockets and tap ("vme") adapters.

The command line (qemu_cmdline.py) gives the name, the QMP socket, the
guest agent and each NIC with its netdev.  The kernel gives the rest: every open
``/dev/net/tun`` fd has ``iff:\\tTAP`` in ``/proc/PID/fdinfo/FD``, which
names the tap behind ``fd=N`` and shows taps added later (hot-plug).

Everything about one process is read through one ``/proc/PID`` directory
fd, so a pid reused mid-read fails the reads instead of mixing two
processes' facts.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import AbstractSet, Iterator, Optional

from ..core.model import VMNic
from .qemu_cmdline import (  # noqa: F401 (re-exported: the command line is part of what this module reads)
    QGA_CHANNEL,
    QemuCmdline,
    nic_mac,
    options,
    parse_cmdline,
    parse_opts,
    qmp_path,
)

_GONE = (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError)


def parse_fdinfo(text: str) -> Optional[str]:
    """The tap name in a ``/proc/PID/fdinfo/N`` text (its ``iff:`` line), or None."""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key == "iff":
            return value.strip() or None
    return None


def _read_at(dirfd: Optional[int], path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dirfd)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _fds_at(dirfd: int) -> Iterator[tuple[int, str]]:
    """(fd, link target) of the process's open files; nothing if it is gone."""
    try:
        fddir = os.open("fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dirfd)
    except _GONE:
        return
    try:
        for name in os.listdir(fddir):
            try:
                yield int(name), os.readlink(name, dir_fd=fddir)
            except (*_GONE, ValueError):
                continue
    finally:
        os.close(fddir)


def _taps_at(dirfd: int) -> dict[int, str]:
    taps: dict[int, str] = {}
    for fd, target in _fds_at(dirfd):
        if not target.endswith("/net/tun"):
            continue
        try:
            name = parse_fdinfo(_read_at(dirfd, f"fdinfo/{fd}").decode(errors="replace"))
        except _GONE:
            continue
        if name:
            taps[fd] = name
    return taps


def _open_pid(pid: int) -> Optional[int]:
    try:
        return os.open(f"/proc/{pid}", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except _GONE:
        return None


def _open_files_at(dirfd: int) -> Optional[int]:
    try:
        n = os.stat("fd", dir_fd=dirfd).st_size
    except _GONE:
        return None
    return n or None  # before Linux 6.2 the size of /proc/PID/fd is 0: not a count


def open_files(pid: int) -> Optional[int]:
    """How many files the process has open now: one ``stat`` of ``/proc/PID/fd``, whose size Linux
    6.2+ reports as that count; None before 6.2 or if the process is gone."""
    dirfd = _open_pid(pid)
    if dirfd is None:
        return None
    try:
        return _open_files_at(dirfd)
    finally:
        os.close(dirfd)


def tap_ifnames(pid: int) -> dict[int, str]:
    """fd -> tap name for each ``/dev/net/tun`` fd of the process ({} if gone/hidden)."""
    dirfd = _open_pid(pid)
    if dirfd is None:
        return {}
    try:
        return _taps_at(dirfd)
    finally:
        os.close(dirfd)


def _is_qemu_name(name: str, exact_kvm: bool) -> bool:
    base = os.path.basename(name)
    return base.startswith(("qemu-system", "qemu-kvm")) or (exact_kvm and base == "kvm")


def is_qemu(pid: int, argv: list[str], _dirfd: Optional[int] = None) -> bool:
    """True if argv[0] or the process's comm names a QEMU system emulator.

    argv[0] ``kvm`` (Proxmox's binary) counts too; comm ``kvm`` does not
    (argv-less kernel threads use such names).
    """
    if argv and _is_qemu_name(argv[0], exact_kvm=True):
        return True
    try:
        if _dirfd is None:
            comm = _read_at(None, f"/proc/{pid}/comm")
        else:
            comm = _read_at(_dirfd, "comm")
    except _GONE:
        return False
    return _is_qemu_name(comm.decode(errors="replace").strip(), exact_kvm=False)


@dataclass
class QemuProcess:
    """One running QEMU: pid, network namespace, command line, open taps."""

    pid: int
    netns_inode: Optional[int]
    cmdline: QemuCmdline
    taps: dict[int, str]  # fd -> tap name, from fdinfo
    open_files: Optional[int] = None  # counted just before the taps were read (``open_files``)


def _unix_socket_path(dirfd: int, fd: int) -> Optional[str]:
    """The bound path of a unix socket fd, from ``net/unix``.

    The table lists the sockets of one network namespace: the process's
    first, then ours (libvirt makes the socket in its own namespace).
    """
    try:
        target = os.readlink(f"fd/{fd}", dir_fd=dirfd)
    except _GONE:
        return None
    if not (target.startswith("socket:[") and target.endswith("]")):
        return None
    inode = target[len("socket:[") : -1]
    for where, path in ((dirfd, "net/unix"), (None, "/proc/self/net/unix")):
        try:
            table = _read_at(where, path).decode(errors="replace")
        except _GONE:
            continue
        for line in table.splitlines()[1:]:
            cols = line.split(None, 7)
            if len(cols) == 8 and cols[6] == inode and cols[7].startswith("/"):
                return cols[7]
    return None


def _qemu_at(pid: int, dirfd: int) -> Optional[QemuProcess]:
    try:
        raw = _read_at(dirfd, "cmdline")
    except _GONE:
        return None
    raw = raw[:-1] if raw.endswith(b"\0") else raw
    argv = [a.decode(errors="replace") for a in raw.split(b"\0")] if raw else []
    if not is_qemu(pid, argv, dirfd):
        return None
    try:
        inode: Optional[int] = os.stat("ns/net", dir_fd=dirfd).st_ino
    except _GONE:
        inode = None
    cmd = parse_cmdline(argv)
    if cmd.qmp is None and cmd.qmp_fd is not None:
        cmd.qmp = _unix_socket_path(dirfd, cmd.qmp_fd)
    if cmd.qga is None and cmd.qga_fd is not None:
        cmd.qga = _unix_socket_path(dirfd, cmd.qga_fd)
    count = _open_files_at(dirfd)  # before the taps: a file opened in between makes the count differ
    return QemuProcess(pid, inode, cmd, _taps_at(dirfd), count)


def find_qemu_processes(skip: AbstractSet[int] = frozenset()) -> list[QemuProcess]:
    """Every QEMU process we can see, by pid; ``skip``: pids not to look at (known to be elsewhere)."""
    found: list[QemuProcess] = []
    with os.scandir("/proc") as it:
        pids = sorted(int(e.name) for e in it if e.name.isdigit())
    for pid in pids:
        if pid in skip:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                raw = f.read()
        except _GONE:
            continue
        if b"qemu" not in raw and b"kvm" not in raw:  # cheap filter before the careful read
            continue
        dirfd = _open_pid(pid)
        if dirfd is None:
            continue
        try:
            proc = _qemu_at(pid, dirfd)
        finally:
            os.close(dirfd)
        if proc:
            found.append(proc)
    return found


def vm_adapters(proc: QemuProcess, live_macs: Optional[dict[str, str]] = None,
                hot: Optional[dict[str, tuple[str, Optional[str], Optional[str]]]] = None) -> list[VMNic]:
    """The VM's adapters, host ends named from fdinfo where the command line cannot.

    ``fd=N`` netdevs take the tap name of fd N; ``ifname=`` ones keep it.
    Taps open in QEMU that no netdev on the command line names were
    hot-plugged: ``hot`` (tap → netdev id, its NIC's id and MAC, from QMP
    ``info network``) names them; without it they follow as ``tap:NAME``
    adapters with no guest MAC.  ``live_macs`` (QMP ``query-rx-filter``,
    keyed by NIC id) replaces the command line's MAC with the one the
    guest uses now.
    """
    cmd = proc.cmdline
    out = [dataclasses.replace(a) for a in cmd.adapters]
    for a in out:
        fd = cmd.tap_fds.get(a.id)
        if fd is not None and fd in proc.taps:
            a.host_ifname = proc.taps[fd]
        nic = cmd.nic_ids.get(a.id)
        if live_macs and nic in live_macs:
            a.guest_mac = nic_mac(live_macs[nic])
    claimed = {a.host_ifname for a in out if a.host_ifname}
    ids = {a.id for a in out}
    for _, name in sorted(proc.taps.items()):
        if name not in claimed:
            claimed.add(name)
            netdev, nic, mac = (hot or {}).get(name, (None, None, None))
            if netdev and netdev not in ids:
                ids.add(netdev)
                if live_macs and nic in live_macs:
                    mac = live_macs[nic]
                out.append(VMNic(netdev, nic_mac(mac) if mac else None, name))
            else:
                out.append(VMNic(f"tap:{name}", None, name))
    return out
