"""A QEMU command line read: name, QMP socket, guest agent and NICs (discovery/qemu.py uses it).

``-name guest=NAME``; the QMP socket (``-qmp unix:PATH`` or ``-chardev
socket,id=X,path=P`` + ``-mon chardev=X,mode=control``); the guest
agent's virtio-serial port; each NIC: ``-netdev tap,id=ID,ifname=TAP``
or ``fd=N`` (libvirt, also as JSON), ``-device DRIVER,netdev=ID,mac=MAC``
(also JSON) and ``-nic tap,…``.  Pure text: no process is read here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterator, Optional

from ..core.model import VMNic

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
    adapters: list[VMNic] = field(default_factory=list)
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
    by_id: dict[str, VMNic] = {}
    nics = 0
    agent_chardev: Optional[str] = None

    def adapter(nid: str) -> VMNic:
        if nid not in by_id:
            by_id[nid] = VMNic(nid, None, None)
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
