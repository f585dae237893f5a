"""The QEMU arguments that boot the lab guest: kernel, initrd, command line, serial log, agent port.

Only what the guest needs; the caller adds the machine, accelerator,
``-netdev tap``/``-device virtio-net-pci`` and its QMP socket.  The guest
configures its first NIC (eth0) from ``vnet.ip=``/``vnet.ip6=``.
"""

from __future__ import annotations

import ipaddress
import re

from vnet_tui.core.errors import InvalidInput
from vnet_tui.guest.image import GuestImage
from vnet_tui.guest.init_script import QGA_PORT_NAME

_CHARDEV_UNSAFE = re.compile(r"[,\s]")


def guest_qemu_args(
    image: GuestImage,
    *,
    ip4: str | None,
    ip6: str | None,
    qga_socket: str | None,
    serial_log: str | None,
    mem_mb: int = 256,
    gw4: str | None = None,
    gw6: str | None = None,
    hostname: str | None = None,
) -> list[str]:
    """Arguments for ``qemu-system-x86_64`` that boot ``image`` with eth0 at ``ip4``/``ip6``.

    ``ip4``/``ip6`` are ``address/prefix``; ``qga_socket`` is the unix
    socket QEMU listens on for the guest agent (None: no agent port);
    ``serial_log`` receives the guest console (None: discarded).
    Adds ``-no-reboot`` so a guest panic (``panic=-1``) ends QEMU.
    """
    words = ["console=ttyS0", "quiet", "panic=-1"]
    if ip4 is not None:
        words.append(f"vnet.ip={_iface(ip4, 4, 'ip4')}")
    if ip6 is not None:
        words.append(f"vnet.ip6={_iface(ip6, 6, 'ip6')}")
    if gw4 is not None:
        words.append(f"vnet.gw={_addr(gw4, 4, 'gw4')}")
    if gw6 is not None:
        words.append(f"vnet.gw6={_addr(gw6, 6, 'gw6')}")
    if hostname is not None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}", hostname):
            raise InvalidInput(f"guest hostname {hostname!r}: letters, digits and '-' only", rule="guest-hostname")
        words.append(f"vnet.hostname={hostname}")
    if qga_socket is None:
        words.append("vnet.qga=0")
    if not 64 <= mem_mb <= 65536:
        raise InvalidInput(f"guest memory {mem_mb} MB: use 64–65536", rule="guest-memory")

    args = [
        "-kernel", str(image.kernel),
        "-initrd", str(image.initrd),
        "-append", " ".join(words),
        "-m", str(mem_mb),
        "-no-reboot",
        "-serial", f"file:{_path(serial_log, 'serial_log')}" if serial_log else "null",
    ]
    if qga_socket is not None:
        args += [
            "-device", "virtio-serial-pci,id=vnet-vser0",
            "-chardev", f"socket,id=vnet-qga0,path={_path(qga_socket, 'qga_socket')},server=on,wait=off",
            "-device", f"virtserialport,bus=vnet-vser0.0,chardev=vnet-qga0,name={QGA_PORT_NAME}",
        ]
    return args


def _iface(text: str, version: int, what: str) -> str:
    if "/" not in text:
        raise InvalidInput(f"{what} {text!r}: give address/prefix, e.g. 198.18.2.1/16", rule="guest-address")
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError as e:
        raise InvalidInput(f"{what} {text!r}: {e}", rule="guest-address") from e
    if iface.version != version:
        raise InvalidInput(f"{what} {text!r} is not IPv{version}", rule="guest-address")
    return iface.with_prefixlen


def _addr(text: str, version: int, what: str) -> str:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError as e:
        raise InvalidInput(f"{what} {text!r}: {e}", rule="guest-address") from e
    if addr.version != version:
        raise InvalidInput(f"{what} {text!r} is not IPv{version}", rule="guest-address")
    return str(addr)


def _path(path: str, what: str) -> str:
    # QEMU's option syntax: ',' would split the option ("," must be doubled); refuse rather than escape.
    if _CHARDEV_UNSAFE.search(path):
        raise InvalidInput(f"{what} {path!r}: no commas or whitespace in the path", rule="guest-path")
    if what == "qga_socket" and len(path.encode()) > 107:
        raise InvalidInput(f"{what} {path!r}: unix socket paths are limited to 107 bytes", rule="guest-path")
    return path
