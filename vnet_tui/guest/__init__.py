"""A real, minimal Linux guest for lab VMs: image cache, QEMU arguments, guest agent client.

Lab VMs boot Debian's cloud kernel with a small busybox initramfs whose
``/init`` brings eth0 up with the address given on the kernel command
line and starts the QEMU guest agent, so traffic really crosses the VM's
tap pair and the agent reports what the guest sees.

    image = ensure_image(progress=print)          # cached after the first build
    args = guest_qemu_args(image, ip4="198.18.2.1/16", ip6=None,
                           qga_socket="/run/x/qga.sock", serial_log="/run/x/console.log")
    with wait_for_agent("/run/x/qga.sock") as qga:
        qga.interfaces()

Names are imported lazily so ``python -m vnet_tui.guest.image`` runs cleanly.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "GuestImage": "image",
    "GuestImageError": "image",
    "ensure_image": "image",
    "guest_qemu_args": "qemu_args",
    "QGA": "qga",
    "QGAError": "qga",
    "QGATimeout": "qga",
    "QGADisconnected": "qga",
    "wait_for_agent": "qga",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
