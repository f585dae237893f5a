"""Real LXC containers in a network namespace of their own, under a private lxcpath.

``LxcSite.up()`` makes netns ``vt-lx-<hex>`` with a bridge ``br0`` and a
private lxcpath (``lxc-create -P DIR``, never /var/lib/lxc), creates each
container with LXC's own busybox template (offline: it copies the cached
static busybox, tests/runtimes/rootfs.py), a veth on ``br0`` with a fixed
MAC, and starts it with ``lxc-start -P DIR -n NAME -d`` inside the netns
(tests/runtimes/netns_exec.py: a private mount namespace with its own
sysfs and the cgroup hierarchies mounted again).  Every container's
cgroups live below ``vt-lx-<hex>/`` (``lxc.cgroup.dir.*``), so nothing is
made at the hierarchies' roots.

What LXC needs on this host (no systemd, cgroup v1 hybrid, under
``ip netns exec``): the cgroup mounts again inside the netns's mount
namespace for lxc-start, lxc-freeze, lxc-stop (not for lxc-ls/lxc-info's
pid and state); ``lxc.apparmor.profile = unconfined`` (no AppArmor);
the command socket is an abstract unix socket, so every lxc-* tool that
asks a running container must run inside that same network namespace.

``down()`` thaws, ``lxc-stop -k``s and ``lxc-destroy``s every container,
kills any monitor left (by pid), removes the netns, the cgroups and the
directory; it never raises and says what it could not remove.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from tests.runtimes import netns_exec
from tests.runtimes.rootfs import busybox


def available() -> Optional[str]:
    """None when LXC can run here, else why not (for the NOT TESTED skip)."""
    for tool in ("lxc-create", "lxc-start", "lxc-stop", "lxc-destroy", "lxc-ls", "lxc-info", "lxc-freeze"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (make runtimes installs lxc)"
    if not Path("/usr/share/lxc/templates/lxc-busybox").is_file():
        return "LXC's busybox template /usr/share/lxc/templates/lxc-busybox is missing"
    if os.geteuid() != 0:
        return "LXC containers here need root"
    return None


@dataclass
class LxcContainer:
    name: str
    mac: str
    frozen: bool = False
    foreground: bool = False  # lxc-start -F, as Proxmox's pve-container@CTID runs it


@dataclass
class LxcSite:
    containers: list[LxcContainer]
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    netns: str = ""  # given: another site's netns, used (its br0 too) and left to that site
    lxcpath: str = ""
    fg: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.shared = bool(self.netns)
        self.netns = self.netns or f"vt-lx-{self.tag}"
        self.cgdir = f"vt-lx-{self.tag}"

    # ------------------------------------------------------------ up

    def up(self) -> "LxcSite":
        bb = busybox()
        self.lxcpath = tempfile.mkdtemp(prefix=f"vt-lx-{self.tag}-")
        if not self.shared:
            _ip("netns", "add", self.netns)
            _ip("-n", self.netns, "link", "set", "lo", "up")
            _ip("-n", self.netns, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.netns, "link", "set", "br0", "up")
        for c in self.containers:
            conf = Path(self.lxcpath) / f"{c.name}.base.conf"
            conf.write_text(self.config(c))
            r = subprocess.run(
                ["lxc-create", "-P", self.lxcpath, "-n", c.name, "-t", "busybox", "-f", str(conf),
                 "--", "--busybox-path", str(bb)],
                capture_output=True, text=True, timeout=120)
            if r.returncode != 0:
                raise RuntimeError(f"lxc-create {c.name} failed: {r.stderr.strip()[-800:]}")
            if c.foreground:
                argv = ["lxc-start", "-F", "-P", self.lxcpath, "-n", c.name]
                with open(f"{self.lxcpath}/{c.name}.out", "wb") as out:
                    self.fg.append(subprocess.Popen(
                        netns_exec.command(self.netns, argv), stdin=subprocess.DEVNULL, stdout=out,
                        stderr=subprocess.STDOUT, start_new_session=True))
            else:
                self.lxc("lxc-start", "-n", c.name, "-d", "-l", "INFO", "-o", f"{self.lxcpath}/{c.name}.log")
        for c in self.containers:
            self.wait_state(c.name, "RUNNING")
            if c.frozen:
                self.lxc("lxc-freeze", "-n", c.name)
                self.wait_state(c.name, "FROZEN")
        return self

    def config(self, c: LxcContainer) -> str:
        d = f"{self.cgdir}/{c.name}"
        return "\n".join([
            "lxc.net.0.type = veth",
            "lxc.net.0.link = br0",
            "lxc.net.0.flags = up",
            "lxc.net.0.name = eth0",
            f"lxc.net.0.hwaddr = {c.mac}",
            "lxc.apparmor.profile = unconfined",
            f"lxc.cgroup.dir.container = {d}",
            f"lxc.cgroup.dir.monitor = {d}.monitor",
            f"lxc.cgroup.dir.monitor.pivot = {self.cgdir}/pivot",
            "",
        ])

    # ------------------------------------------------------------ asking LXC

    def lxc(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """An lxc-* tool on this lxcpath, run inside the netns with the cgroup mounts."""
        return netns_exec.run(self.netns, [tool, "-P", self.lxcpath, *args], check=check)

    def info(self, name: str) -> dict[str, str]:
        """``lxc-info -P DIR -n NAME``: its State and PID."""
        out = self.lxc("lxc-info", "-n", name, "-s", "-p").stdout
        facts = {}
        for line in out.splitlines():
            k, _, v = line.partition(":")
            facts[k.strip()] = v.strip()
        return facts

    def fancy(self) -> dict[str, str]:
        """``lxc-ls -P DIR --fancy``: name -> STATE."""
        out = self.lxc("lxc-ls", "--fancy", "-F", "NAME,STATE").stdout.splitlines()
        return {ln.split()[0]: ln.split()[1] for ln in out[1:] if ln.split()}

    def wait_state(self, name: str, state: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            got = self.info(name).get("State")
            if got == state:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} is {got}, not {state}, after {timeout:.0f} s")
            time.sleep(0.2)

    def monitors(self) -> list[int]:
        """Pids of this site's monitors: ``[lxc monitor] LXCPATH NAME`` or ``lxc-start -F -P LXCPATH``."""
        out = []
        for e in os.scandir("/proc"):
            if not e.name.isdigit():
                continue
            try:
                argv = Path(f"/proc/{e.name}/cmdline").read_bytes()
            except OSError:
                continue
            if argv.startswith(f"[lxc monitor] {self.lxcpath} ".encode()) or (
                    argv.startswith(b"lxc-start\0") and f"\0{self.lxcpath}\0".encode() in argv):
                out.append(int(e.name))
        return out

    # ------------------------------------------------------------ down

    def down(self) -> list[str]:
        """Remove everything; what could not be removed (empty when all is gone)."""
        problems: list[str] = []
        if self.lxcpath and Path(self.lxcpath).is_dir():
            for c in self.containers:
                try:
                    self.lxc("lxc-unfreeze", "-n", c.name, check=False)
                    self.lxc("lxc-stop", "-n", c.name, "-k", check=False)
                except Exception as e:  # keep going: the rest must still go
                    problems.append(f"lxc-stop {c.name}: {e}")
            for p in self.fg:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                    problems.append(f"lxc-start -F (pid {p.pid}) had to be killed")
            for pid in self.monitors():
                try:
                    os.kill(pid, signal.SIGKILL)
                    problems.append(f"monitor {pid} had to be killed")
                except ProcessLookupError:
                    pass
            for c in self.containers:
                if (Path(self.lxcpath) / c.name).exists():
                    r = subprocess.run(["lxc-destroy", "-P", self.lxcpath, "-n", c.name],
                                       capture_output=True, text=True, timeout=60)
                    if r.returncode != 0:
                        problems.append(f"lxc-destroy {c.name}: {r.stderr.strip()[-200:]}")
        if self.netns and not self.shared:
            r = subprocess.run(["ip", "netns", "del", self.netns], capture_output=True, text=True)
            if r.returncode != 0 and "No such file" not in r.stderr:
                problems.append(f"ip netns del {self.netns}: {r.stderr.strip()}")
        for _ in range(20):
            left = netns_exec.remove_cgroups(self.cgdir)
            if not left:
                break
            time.sleep(0.1)
        else:
            problems.append(f"cgroups left: {left}")
        if self.lxcpath:
            shutil.rmtree(self.lxcpath, ignore_errors=True)
            if Path(self.lxcpath).exists():
                problems.append(f"{self.lxcpath} left")
        return problems


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)
