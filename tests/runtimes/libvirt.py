"""A real libvirtd with real QEMU domains, inside a network namespace and a private mount namespace.

``libvirt_lab()`` (a context manager) makes:

* a netns ``vt-lv-<hex>`` with a bridge ``br0`` (up);
* ``libvirtd`` started in it by ``ip netns exec NS unshare --mount --propagation private``,
  whose /run, /var/lib, /var/log, /var/cache and /etc/libvirt are fresh tmpfs mounts (and
  /etc/passwd, /etc/group bind mounts of copies that add the ``libvirt-qemu`` user libvirtd
  insists on) that exist only in that mount namespace (config written there from the files below: root user,
  no security driver, no cgroups, no per-VM namespaces, QEMU's output to a file so no
  virtlogd, no networks defined so no virbr0/dnsmasq/firewall).  Nothing is created in the
  real /etc, /run or /var; the mounts vanish with the last process of that namespace;
* domains ``<domain type='qemu'>`` (TCG, 64 MiB, no disk: they sit in SeaBIOS) each with one
  ``<interface type='bridge'><source bridge='br0'/><model type='virtio'/>``:
  ``…-pc`` (i440fx with ACPI, running), ``…-q35`` (q35 with two explicit pcie-root-ports, of
  which libvirt gives one to the NIC, so one is free; then ``virsh suspend``: paused) and
  ``…-off`` (i440fx without ACPI, defined, never started: shut off).

Tear-down destroys and undefines every domain, stops libvirtd (SIGTERM, then SIGKILL), kills
whatever of ours is still in the netns by pid, and deletes the netns.

``python -m tests.runtimes.libvirt`` brings one up, prints how to reach it and waits for Enter.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Optional

LIBVIRTD = "/usr/sbin/libvirtd"
VIRSH = "/usr/bin/virsh"
QEMU = "/usr/bin/qemu-system-x86_64"

QEMU_CONF = """\
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
"""

LIBVIRTD_CONF = """\
auth_unix_ro = "none"
auth_unix_rw = "none"
unix_sock_rw_perms = "0700"
unix_sock_ro_perms = "0700"
unix_sock_admin_perms = "0700"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
"""

# runs as the process that becomes libvirtd: fresh tmpfs mounts in its private mount namespace
START = r"""
set -e
mount -t tmpfs -o mode=0755 vt-lv-run /run
mkdir -p /run/libvirt /run/lock
for d in /var/lib /var/log /var/cache; do
  mount -t tmpfs -o mode=0755 vt-lv-var "$d"; mkdir -p "$d/libvirt"
done
mount --bind "$1/passwd" /etc/passwd
mount --bind "$1/group" /etc/group
mount -t tmpfs -o mode=0755 vt-lv-etc /etc/libvirt
cp -a "$1/libvirtd.conf" "$1/qemu.conf" "$1/qemu" /etc/libvirt/
exec "$2" -f /etc/libvirt/libvirtd.conf
"""


def domain_xml(name: str, machine: str, spare_root_ports: int = 0, acpi: bool = True) -> str:
    """A guest without disk (it sits in SeaBIOS).  Without ``<acpi/>`` libvirt passes -no-acpi and
    an i440fx machine's pci.0 then refuses hot-plug ("Bus 'pci.0' does not support hotplugging")."""
    ports = "<controller type='pci' index='0' model='pcie-root'/>" if spare_root_ports else ""
    ports += "".join("<controller type='pci' model='pcie-root-port'/>" for _ in range(spare_root_ports))
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='{machine}'>hvm</type></os>
  {"<features><acpi/></features>" if acpi else ""}
  <devices>
    <emulator>{QEMU}</emulator>
    <controller type='usb' model='none'/>
    {ports}
    <interface type='bridge'><source bridge='br0'/><model type='virtio'/></interface>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def guest_domain_xml(name: str, kernel: str, initrd: str, serial: str, machine: str = "pc") -> str:
    """The lab's Linux guest (vnet_tui/guest: Debian cloud kernel + busybox initramfs), booted
    directly by QEMU, console to ``serial``; one bridge NIC.  Its kernel answers hot-unplug."""
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='{machine}'>hvm</type>
    <kernel>{kernel}</kernel><initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 vnet.qga=0</cmdline></os>
  <features><acpi/></features>
  <on_reboot>destroy</on_reboot>
  <devices>
    <emulator>{QEMU}</emulator>
    <controller type='usb' model='none'/>
    <interface type='bridge'><source bridge='br0'/><model type='virtio'/></interface>
    <serial type='file'><source path='{serial}'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>
"""


@dataclass
class LibvirtLab:
    netns: str
    pid: int  # libvirtd's
    stage: str
    domains: dict[str, str] = field(default_factory=dict)  # role (pc, q35, off) -> domain name
    shared: bool = False  # the netns (and its br0) is the caller's, shared with other runtimes
    mnt_ino: int = 0  # libvirtd's private mount namespace (its QEMUs inherit it)

    @property
    def socket(self) -> str:
        return f"/proc/{self.pid}/root/run/libvirt/libvirt-sock"

    @property
    def uri(self) -> str:
        return f"qemu:///system?socket={self.socket}"

    def path(self, p: str) -> str:
        """``p`` as libvirtd sees it (its private mounts)."""
        return f"/proc/{self.pid}/root/{p.lstrip('/')}"

    def virsh(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([VIRSH, "-q", "-c", self.uri, *args], capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"virsh {' '.join(args)}: {r.stderr.strip() or r.stdout.strip()}\n{self.log_tail()}")
        return r

    def log_tail(self, n: int = 3000) -> str:
        try:
            with open(self.path("/var/log/libvirt/libvirtd.log"), errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return "(no libvirtd log)"

    def boot_guest(self, role: str = "guest", machine: str = "pc", timeout: float = 240) -> str:
        """Start a transient domain running the lab's Linux guest; its name once the guest says ready.

        Raises RuntimeError (the caller's NOT TESTED) when the image cannot be had or the
        guest does not come up in ``timeout`` seconds (TCG on a shared CPU is slow)."""
        from vnet_tui.guest.image import ensure_image
        from vnet_tui.guest.init_script import READY_MARK

        try:
            image = ensure_image()
        except Exception as e:
            raise RuntimeError(f"no guest image: {e}") from None
        # libvirtd's /var/cache is private: give QEMU copies where it can see them
        kernel, initrd = (os.path.join(self.stage, f"guest-{n}") for n in ("vmlinuz", "initrd.img"))
        shutil.copyfile(image.kernel, kernel)
        shutil.copyfile(image.initrd, initrd)
        serial = os.path.join(self.stage, f"{role}-serial.log")
        name = f"{self.netns}-{role}"
        path = os.path.join(self.stage, f"{role}.xml")
        with open(path, "w") as f:
            f.write(guest_domain_xml(name, kernel, initrd, serial, machine))
        self.virsh("create", path)
        self.domains[role] = name
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                with open(serial, errors="replace") as f:
                    if READY_MARK in f.read():
                        return name
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the guest did not say {READY_MARK!r} in {timeout:.0f} s")

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                return f.read().split(") ")[1][0] != "Z"
        except OSError:
            return False


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True)


def why_not() -> Optional[str]:
    """Why libvirt cannot run here (None when everything it needs is installed)."""
    for exe in (LIBVIRTD, VIRSH, QEMU):
        if not os.access(exe, os.X_OK):
            return f"{exe} is not installed (make runtimes)"
    if not os.path.exists("/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so"):
        return "libvirt-daemon-driver-qemu is not installed (make runtimes)"
    if os.geteuid() != 0:
        return "needs root"
    return None


def _start_libvirtd(netns: str, stage: str) -> subprocess.Popen:
    with open(os.path.join(stage, "libvirtd.conf"), "w") as f:
        f.write(LIBVIRTD_CONF)
    with open(os.path.join(stage, "qemu.conf"), "w") as f:
        f.write(QEMU_CONF)
    os.makedirs(os.path.join(stage, "qemu", "networks"), exist_ok=True)
    # libvirtd resolves its built-in QEMU user (Debian: libvirt-qemu) before it reads qemu.conf;
    # that user comes with libvirt-daemon-system, not installed here: a private passwd/group has it
    for name, extra in (("passwd", "libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin\n"),
                        ("group", "libvirt-qemu:x:64055:\nkvm:x:64056:\n")):
        with open(f"/etc/{name}") as src, open(os.path.join(stage, name), "w") as dst:
            text = src.read()
            dst.write(text if text.endswith("\n") or not text else text + "\n")
            dst.write("".join(l + "\n" for l in extra.splitlines() if l.split(":")[0] + ":" not in text))
    out = open(os.path.join(stage, ".stderr"), "wb")
    try:
        # ip netns exec and unshare both exec: the Popen pid becomes libvirtd's
        return subprocess.Popen(
            ["ip", "netns", "exec", netns, "unshare", "--mount", "--propagation", "private", "--",
             "/bin/sh", "-c", START, "sh", stage, LIBVIRTD],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    finally:
        out.close()


def _wait_ready(lab: LibvirtLab, proc: subprocess.Popen, deadline_s: float = 90) -> Optional[str]:
    """None once ``virsh version`` answers; else why not."""
    end = time.monotonic() + deadline_s
    last = ""
    while time.monotonic() < end:
        if proc.poll() is not None:
            try:
                with open(os.path.join(lab.stage, ".stderr"), errors="replace") as f:
                    err = f.read()[-1500:]
            except OSError:
                err = ""
            return f"libvirtd exited with {proc.returncode}: {err.strip()}"
        if os.path.exists(lab.socket):
            r = lab.virsh("version", timeout=30, check=False)
            if r.returncode == 0:
                return None
            last = r.stderr.strip()
        time.sleep(0.2)
    return f"libvirtd did not answer in {deadline_s:.0f} s: {last}"


def _teardown(lab: LibvirtLab, proc: Optional[subprocess.Popen]) -> None:
    if proc is not None and proc.poll() is None and lab.alive():
        for name in lab.domains.values():
            try:
                lab.virsh("destroy", name, timeout=30, check=False)
                lab.virsh("undefine", name, timeout=30, check=False)
            except subprocess.TimeoutExpired:
                pass
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    # QEMU is reparented away from libvirtd: anything of ours still in the netns goes by pid
    # (in a shared netns: only what is in libvirtd's mount namespace, never the other runtimes)
    for _ in range(50):
        if lab.shared:
            pids = _pids_in_mnt(lab.mnt_ino)
        else:
            pids = [int(p) for p in _run("ip", "netns", "pids", lab.netns).stdout.split()]
        if not pids:
            break
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    if not lab.shared:
        _run("ip", "netns", "del", lab.netns)
    subprocess.run(["rm", "-rf", lab.stage])


def _pids_in_mnt(ino: int) -> list[int]:
    out: list[int] = []
    if not ino:
        return out
    for e in os.scandir("/proc"):
        if e.name.isdigit():
            try:
                if os.stat(f"/proc/{e.name}/ns/mnt").st_ino == ino:
                    out.append(int(e.name))
            except OSError:
                pass
    return out


@contextmanager
def libvirt_lab(domains: bool = True, netns: Optional[str] = None) -> Iterator[LibvirtLab]:
    """A running libvirtd (and, with ``domains``, the three domains); everything removed after.

    ``netns``: an existing namespace with a ``br0`` (shared with other runtimes) to run libvirtd
    in; neither made nor removed here, and tear-down kills only libvirtd's mount namespace.

    Raises ``RuntimeError`` with libvirt's own words when it cannot be brought up; the
    caller turns that into ``pytest.skip("NOT TESTED: …")``.
    """
    reason = why_not()
    if reason:
        raise RuntimeError(reason)
    tag = secrets.token_hex(3)
    shared = bool(netns)
    netns = netns or f"vt-lv-{tag}"
    stage = tempfile.mkdtemp(prefix=f"vt-lv-{tag}-")
    lab = LibvirtLab(netns=netns, pid=0, stage=stage, shared=shared)
    proc: Optional[subprocess.Popen] = None
    try:
        if not shared:
            subprocess.run(["ip", "netns", "add", netns], check=True)
            for cmd in (["link", "set", "lo", "up"], ["link", "add", "br0", "type", "bridge"],
                        ["link", "set", "br0", "up"]):
                subprocess.run(["ip", "-n", netns, *cmd], check=True)
        proc = _start_libvirtd(netns, stage)
        lab.pid = proc.pid
        err = _wait_ready(lab, proc)
        try:
            lab.mnt_ino = os.stat(f"/proc/{lab.pid}/ns/mnt").st_ino
        except OSError:
            pass
        if err:
            raise RuntimeError(err)
        if domains:
            for role, machine, spare, acpi in (("pc", "pc", 0, True), ("q35", "q35", 2, True),
                                               ("off", "pc", 0, False)):
                name = f"vt-lv-{tag}-{role}"
                path = os.path.join(stage, f"{role}.xml")
                with open(path, "w") as f:
                    f.write(domain_xml(name, machine, spare, acpi))
                lab.virsh("define", path)
                lab.domains[role] = name
            lab.virsh("start", lab.domains["pc"])
            lab.virsh("start", lab.domains["q35"])
            lab.virsh("suspend", lab.domains["q35"])
        yield lab
    finally:
        _teardown(lab, proc)


if __name__ == "__main__":
    with libvirt_lab() as lab:
        print(f"netns {lab.netns}  libvirtd pid {lab.pid}\nvirsh -c '{lab.uri}' list --all")
        print(lab.virsh("list", "--all").stdout)
        try:
            input("Enter tears it down> ")
        except EOFError:
            pass
