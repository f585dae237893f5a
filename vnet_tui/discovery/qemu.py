"""VMs: QEMU processes, their names, QMP sockets and tap ("vme") adapters.

The command line gives the name (``-name guest=NAME``), the QMP socket
(``-qmp unix:PATH`` or ``-chardev socket,id=X,path=P`` + ``-mon
chardev=X,mode=control``), and each NIC: ``-netdev tap,id=ID,ifname=TAP``
or ``fd=N`` (libvirt, also as JSON), ``-device DRIVER,netdev=ID,mac=MAC``
(also JSON) and ``-nic tap,…``.  The kernel gives the rest: every open
``/dev/net/tun`` fd has ``iff:\\tTAP`` in ``/proc/PID/fdinfo/FD``, which
names the tap behind ``fd=N`` and shows taps added later (hot-plug).

Everything about one process is read through one ``/proc/PID`` directory
fd, so a pid reused mid-read fails the reads instead of mixing two
processes' facts.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Iterator, Optional

from ..core.model import VMAdapter

_GONE = (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError)
_WANTED = {"name", "qmp", "chardev", "mon", "netdev", "device", "nic"}
QGA_CHANNEL = "org.qemu.guest_agent.0"  # the virtio-serial port name qemu-ga listens on


def options(argv: list[str]) -> Iterator[tuple[str, Optional[str]]]:
    """(option, value) for the options we read; ``("S", None)`` for ``-S``.

    Tokens are walked one by one and only our options consume a value, so
    an unknown flag-only option cannot swallow the next option.
    """
    i = 1
    while i < len(argv):
        opt = argv[i].lstrip("-") if argv[i].startswith("-") else ""
        if opt in _WANTED:
            yield opt, argv[i + 1] if i + 1 < len(argv) else None
            i += 2
            continue
        if opt == "S":
            yield "S", None
        i += 1


def _split(text: str) -> list[str]:
    """Split QemuOpts text on commas; ``,,`` is a literal comma."""
    parts, cur, i = [], [], 0
    while i < len(text):
        if text[i] == ",":
            if text[i + 1 : i + 2] == ",":
                cur.append(",")
                i += 2
                continue
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(text[i])
        i += 1
    parts.append("".join(cur))
    return parts


def _text(v: object) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    return str(v)


def parse_opts(text: str, implied: str) -> dict[str, str]:
    """``key=value,…`` (first bare word = ``implied`` key) or a JSON object, as strings."""
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): _text(v) for k, v in data.items() if not isinstance(v, (dict, list))}
    out: dict[str, str] = {}
    for i, part in enumerate(_split(text)):
        key, eq, value = part.partition("=")
        if eq:
            out[key] = value
        elif i == 0:
            out[implied] = key
        elif key:
            out[key] = "on"  # boolean shorthand: "server", "nowait"
    return out


def qmp_path(value: str) -> Optional[str]:
    """The socket path of a ``-qmp unix:PATH[,server=on,…]`` value, or None."""
    if not value.startswith("unix:"):
        return None
    return _split(value[len("unix:"):])[0] or None


def nic_mac(mac: Optional[str]) -> Optional[str]:
    """A MAC as QEMU takes it (``:`` or ``-``), normalised to lower-case ``aa:bb:…``."""
    if not mac:
        return None
    return mac.strip().lower().replace("-", ":")


@dataclass
class QemuCmdline:
    """What a QEMU command line says about the VM's identity and NICs."""

    name: Optional[str] = None
    qmp: Optional[str] = None  # unix socket path of the first QMP monitor
    adapters: list[VMAdapter] = field(default_factory=list)
    tap_fds: dict[str, int] = field(default_factory=dict)  # netdev id -> fd (fd=N / fds=N:M)
    paused: bool = False  # -S
    nic_ids: dict[str, str] = field(default_factory=dict)  # netdev id -> NIC device id (QMP name)
    qmp_fd: Optional[int] = None  # QMP chardev passed as fd=N (libvirt): resolved from /proc
    qga: Optional[str] = None  # unix socket of the guest agent's channel (virtserialport org.qemu.guest_agent.0)
    qga_fd: Optional[int] = None  # that chardev passed as fd=N (libvirt): resolved from /proc


def parse_cmdline(argv: list[str]) -> QemuCmdline:
    """Parse a QEMU argv (``/proc/PID/cmdline`` split on NUL)."""
    out = QemuCmdline()
    chardevs: dict[str, dict[str, str]] = {}
    monitors: list[tuple[str, str]] = []  # ("path", P) | ("chardev", ID), in argv order
    by_id: dict[str, VMAdapter] = {}
    nics = 0
    agent_chardev: Optional[str] = None

    def adapter(nid: str) -> VMAdapter:
        if nid not in by_id:
            by_id[nid] = VMAdapter(nid, None, None)
        return by_id[nid]

    def netdev(opts: dict[str, str], nid: str) -> None:
        a = adapter(nid)
        if opts.get("type") != "tap":
            return
        ifname = opts.get("ifname")
        if ifname and "%" not in ifname:  # "tap%d" is a template the kernel fills
            a.host_ifname = ifname
        fd = (opts.get("fd") or opts.get("fds") or "").split(":")[0]
        if fd.isdigit():
            out.tap_fds[nid] = int(fd)

    for opt, value in options(argv):
        if opt == "S":
            out.paused = True
        elif value is None:
            continue
        elif opt == "name":
            out.name = parse_opts(value, "guest").get("guest") or out.name
        elif opt == "qmp":
            if value.startswith("chardev:"):
                monitors.append(("chardev", value[len("chardev:"):]))
            elif qmp_path(value):
                monitors.append(("path", qmp_path(value) or ""))
        elif opt == "chardev":
            opts = parse_opts(value, "backend")
            chardevs[opts.get("id", "")] = opts
        elif opt == "mon":
            opts = parse_opts(value, "chardev")
            if opts.get("mode") == "control" and opts.get("chardev"):
                monitors.append(("chardev", opts["chardev"]))
        elif opt == "netdev":
            opts = parse_opts(value, "type")
            if opts.get("id"):
                netdev(opts, opts["id"])
        elif opt == "device":
            opts = parse_opts(value, "driver")
            if opts.get("driver") == "virtserialport" and opts.get("name") == QGA_CHANNEL:
                agent_chardev = opts.get("chardev") or agent_chardev
            nid = opts.get("netdev")
            if nid:
                a = adapter(nid)
                a.model = opts.get("driver")
                a.guest_mac = nic_mac(opts.get("mac")) or a.guest_mac
                if opts.get("id"):
                    out.nic_ids[nid] = opts["id"]
        elif opt == "nic":
            opts = parse_opts(value, "type")
            if opts.get("type") == "none":  # "-nic none": no NIC at all
                continue
            nid = opts.get("id") or f"__org.qemu.nic{nics}"
            nics += 1
            netdev(opts, nid)
            by_id[nid].model = opts.get("model")
            by_id[nid].guest_mac = nic_mac(opts.get("mac"))
    for kind, ref in monitors:
        if kind == "path":
            out.qmp = ref
            break
        dev = chardevs.get(ref, {})
        if dev.get("backend") == "socket" and dev.get("path"):
            out.qmp = dev["path"]
            break
        if dev.get("backend") == "socket" and dev.get("fd", "").isdigit():
            out.qmp_fd = int(dev["fd"])
            break
    agent = chardevs.get(agent_chardev or "", {})
    if agent.get("backend") == "socket" and agent.get("path"):
        out.qga = agent["path"]
    elif agent.get("backend") == "socket" and agent.get("fd", "").isdigit():
        out.qga_fd = int(agent["fd"])
    out.adapters = list(by_id.values())
    return out


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
    return QemuProcess(pid, inode, cmd, _taps_at(dirfd))


def find_qemu_processes() -> list[QemuProcess]:
    """Every QEMU process we can see, by pid."""
    found: list[QemuProcess] = []
    with os.scandir("/proc") as it:
        pids = sorted(int(e.name) for e in it if e.name.isdigit())
    for pid in pids:
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
                hot: Optional[dict[str, tuple[str, Optional[str], Optional[str]]]] = None) -> list[VMAdapter]:
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
                out.append(VMAdapter(netdev, nic_mac(mac) if mac else None, name))
            else:
                out.append(VMAdapter(f"tap:{name}", None, name))
    return out
