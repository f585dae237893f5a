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
``guest_boot()`` makes the usual one: the lab guest (vnet_tui.guest) with
eth0 at the VM's lab address and its agent on ``VmFiles.qga``;
``wait_for_guests`` waits until their agents answer.
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
    """Where one VM's QMP socket and log live (``dir``: the lab's folder, for more).

    ``qga`` and ``console`` are where a booted guest's agent socket and
    serial console go (nothing is there for a paused VM).
    """

    qmp: str
    log: str
    dir: str = ""
    qga: str = ""
    console: str = ""


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
        qga=os.path.join(lab_dir, f"{vm.name}.qga"),
        console=os.path.join(lab_dir, f"{vm.name}.console"),
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


GUEST_MEM_MB = 256  # measured: the lab guest boots under TCG in ~3.5 s with 256 MB


def guest_boot(progress: Optional[Callable[[str], None]] = None, mem_mb: int = GUEST_MEM_MB) -> BootArgs:
    """A ``boot`` for ``up``: each VM boots the lab guest, eth0 at its lab addresses, agent on ``files.qga``.

    Builds the guest image first if it is not cached (minutes, once;
    ``progress`` hears about it); raises GuestImageError if it cannot.
    """
    from vnet_tui.guest import ensure_image, guest_qemu_args

    image = ensure_image(progress or (lambda _s: None))

    def boot(vm: VmPlan, files: VmFiles) -> list[str]:
        return guest_qemu_args(image, ip4=vm.ipv4, ip6=vm.ipv6, qga_socket=files.qga or None,
                               serial_log=files.console or None, mem_mb=mem_mb, hostname=vm.name)

    return boot


def wait_for_guests(agents: dict[str, str], timeout: float = 60.0) -> dict[str, str]:
    """Wait (in parallel) until each guest agent answers; {VM name: why not} for those that did not.

    ``agents`` maps a VM's name to its agent socket.  Under TCG on two
    cores two guests take ~4–10 s.
    """
    from concurrent.futures import ThreadPoolExecutor

    from vnet_tui.guest import QGAError, wait_for_agent

    def one(path: str) -> str:
        try:
            wait_for_agent(path, timeout=timeout).close()
            return ""
        except QGAError as e:
            return str(e)

    if not agents:
        return {}
    with ThreadPoolExecutor(max_workers=min(16, len(agents))) as pool:
        results = dict(zip(agents, pool.map(one, agents.values())))
    return {name: why for name, why in results.items() if why}


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
