"""The lab's VMs: QEMU's command line, finding QEMU, and waiting for QMP.

A lab VM is a paused (``-S``), TCG, 64 MiB q35 machine with no default
devices, four ``pcie-root-port`` slots (one holds the NIC, three are free
for hot-plug) and one virtio NIC whose QEMU id is the adapter id (``net0``):
``query-rx-filter`` names it ``net0``.  Its backend is the persistent tap
``vme<8 hex>.0`` the lab made beforehand in the host namespace, so the
tap's MAC, bridge and state are the lab's, not QEMU's.

``qemu_argv`` is the one place that builds the command line.  To boot a
guest, pass ``boot``: a function of (VmPlan, VmFiles) returning extra
arguments (``-kernel``, ``-initrd``, ``-append``, agent socket, …; a later
``-m`` overrides ours); the VM then runs instead of staying paused.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from .names import VmPlan, lab_prefix

QEMU_ENV = "VNET_TUI_QEMU"
QEMU = "qemu-system-x86_64"
ROOT_PORTS = 4
UNIX_PATH_MAX = 107


@dataclass(frozen=True)
class VmFiles:
    """Where one VM's QMP socket and log live (``dir``: the lab's folder, for more)."""

    qmp: str
    log: str
    dir: str = ""


BootArgs = Callable[[VmPlan, VmFiles], list[str]]


def find_qemu() -> Optional[str]:
    """The QEMU binary (``$VNET_TUI_QEMU`` or qemu-system-x86_64 on PATH), or None."""
    want = os.environ.get(QEMU_ENV) or QEMU
    return shutil.which(want)


def vm_files(lab: str, lab_dir: str, vm: VmPlan) -> VmFiles:
    """The VM's files; the QMP name carries ``vl-LAB-`` so stray QEMUs are findable."""
    return VmFiles(
        qmp=os.path.join(lab_dir, f"{lab_prefix(lab)}{vm.name}.qmp"),
        log=os.path.join(lab_dir, f"{vm.name}.log"),
        dir=lab_dir,
    )


def qemu_argv(qemu: str, vm: VmPlan, files: VmFiles, boot: Optional[BootArgs] = None) -> list[str]:
    """QEMU's command line for lab VM ``vm``: paused with no guest, or running what ``boot`` adds."""
    argv = [
        qemu,
        "-name", f"guest={vm.name}",
        "-no-user-config", "-nodefaults",
        "-machine", "q35", "-accel", "tcg", "-m", "64",
        "-display", "none",
        "-qmp", f"unix:{files.qmp},server=on,wait=off",
    ]
    for i in range(1, ROOT_PORTS + 1):
        argv += ["-device", f"pcie-root-port,id=rp{i},chassis={i}"]
    argv += [
        "-netdev", f"tap,id={vm.adapter},ifname={vm.tap},script=no,downscript=no",
        "-device", f"virtio-net-pci,netdev={vm.adapter},id={vm.adapter},mac={vm.guest_mac},bus=rp1",
    ]
    extra = boot(vm, files) if boot else []
    return argv + list(extra) if extra else argv + ["-S"]


def check_socket_path(path: str) -> bool:
    return len(os.fsencode(path)) <= UNIX_PATH_MAX


def qmp_greets(path: str, timeout: float = 1.0) -> bool:
    """True when a QMP server answers on ``path`` with its greeting."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    s.settimeout(timeout)
    try:
        s.connect(path)
        data = b""
        while b"\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return False
            data += chunk
        return "QMP" in json.loads(data.split(b"\n", 1)[0])
    except (OSError, ValueError):
        return False
    finally:
        s.close()


@dataclass
class QmpWait:
    """Waits for several QMP sockets at once; ``pending`` maps path -> pid."""

    pending: dict[str, int] = field(default_factory=dict)

    def wait(self, alive: Callable[[int], bool], timeout: float = 20.0) -> Optional[str]:
        """Poll until every socket greets; return the path of one whose QEMU died or timed out."""
        deadline = time.monotonic() + timeout
        while self.pending:
            for path, pid in list(self.pending.items()):
                if os.path.exists(path) and qmp_greets(path):
                    del self.pending[path]
                elif not alive(pid):
                    return path
            if not self.pending:
                break
            if time.monotonic() > deadline:
                return next(iter(self.pending))
            time.sleep(0.01)
        return None


def log_tail(path: str, lines: int = 5) -> str:
    try:
        with open(path, errors="replace") as f:
            return " | ".join(l.strip() for l in f.readlines()[-lines:] if l.strip())
    except OSError:
        return ""
