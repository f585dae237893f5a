"""Real systemd-nspawn machines in a network namespace of their own.

``NspawnSite.up()`` makes netns ``vt-np-<hex>`` with a bridge ``br0`` and
busybox directory trees (tests/runtimes/rootfs.py) in a private
directory, then starts each machine in the netns with

    systemd-nspawn --register=no --keep-unit -q [-M NAME] -D DIR/TREE NETWORK… sleep N

where NETWORK is ``--network-veth`` (host end ``ve-NAME``),
``--network-bridge=br0`` (host end ``vb-NAME`` on br0) or
``--private-network`` plus a veth the site adds itself and moves into the
machine, or ``--settings=trusted`` with a ``NAME.nspawn`` next to the tree
that says how (``[Network] Bridge=br0``).  ``sleep`` is the machine's PID 1, so every machine's leader has
the comm ``sleep``: the collision of issue 9.

What nspawn needs on this host (no systemd as PID 1, cgroup v1 hybrid,
under ``ip netns exec``): ``--register=no`` (no machined) and
``--keep-unit`` (no systemd to make a scope); the cgroup hierarchies
mounted again in the netns's private mount namespace (tests/runtimes/
netns_exec.py), and its own cgroup below ``vt-np-<hex>/NAME`` in the
named and unified hierarchies, else it makes ``/payload`` and
``/supervisor`` at their roots, shared by every nspawn on the host; a
tmpfs on ``/run/systemd/nspawn`` there so its propagation directory does
not land on the host's /run.

``down()`` kills every machine's leader (SIGKILL; its PID 1 ignores
SIGTERM), waits for nspawn to exit, removes the netns, cgroups and files.
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
from tests.runtimes.rootfs import make_rootfs

SLEEP = "1000000"


def available() -> Optional[str]:
    """None when nspawn can run here, else why not (for the NOT TESTED skip)."""
    if shutil.which("systemd-nspawn") is None:
        return "systemd-nspawn is not installed (make runtimes installs systemd-container)"
    if os.geteuid() != 0:
        return "systemd-nspawn needs root"
    return None


@dataclass
class Machine:
    tree: str  # directory name under the site's directory (the machine name without -M)
    name: Optional[str] = None  # -M NAME, or None: nspawn names it after the directory
    network: str = "veth"  # veth | bridge | private (+ a veth the site adds) | settings (NAME.nspawn, below)
    settings: str = ""  # a NAME.nspawn next to the tree, used with --settings=trusted
    proc: Optional[subprocess.Popen[bytes]] = None
    leader: Optional[int] = None
    host_if: str = ""
    guest_if: str = ""

    @property
    def machine(self) -> str:
        return self.name or self.tree


@dataclass
class NspawnSite:
    machines: list[Machine]
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    netns: str = ""  # given: another site's netns, used (its br0 too) and left to that site
    root: str = ""

    def __post_init__(self) -> None:
        self.shared = bool(self.netns)
        self.netns = self.netns or f"vt-np-{self.tag}"
        self.cgdir = f"vt-np-{self.tag}"

    def argv(self, m: Machine) -> list[str]:
        a = ["systemd-nspawn", "--register=no", "--keep-unit", "-q"]
        if m.name:
            a += ["-M", m.name]
        a += ["-D", f"{self.root}/{m.tree}"]
        a += {"veth": ["--network-veth"], "bridge": ["--network-bridge=br0"],
              "private": ["--private-network"], "settings": ["--settings=trusted"]}[m.network]
        return a + ["sleep", SLEEP]

    def up(self) -> "NspawnSite":
        self.root = tempfile.mkdtemp(prefix=f"vt-np-{self.tag}-")
        if not self.shared:
            _ip("netns", "add", self.netns)
            _ip("-n", self.netns, "link", "set", "lo", "up")
            _ip("-n", self.netns, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.netns, "link", "set", "br0", "up")
        for m in self.machines:
            make_rootfs(Path(self.root) / m.tree, hostname=m.machine)
            if m.settings:
                (Path(self.root) / f"{m.machine}.nspawn").write_text(m.settings)
            cmd = netns_exec.command(self.netns, self.argv(m), cgdir=f"{self.cgdir}/{m.machine}",
                                     tmpfs=["/run/systemd/nspawn"])
            with open(f"{self.root}/{m.tree}.log", "wb") as out:
                m.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        for m in self.machines:
            m.leader = self.wait_leader(m)
            if m.network == "veth":
                m.host_if, m.guest_if = f"ve-{m.machine}"[:15], "host0"
            elif m.network == "bridge" or (m.network == "settings" and "Bridge=" in m.settings):
                m.host_if, m.guest_if = f"vb-{m.machine}"[:15], "host0"
            else:
                m.host_if, m.guest_if = f"vh-{m.tree}"[:15], "eth0"
                _ip("-n", self.netns, "link", "add", m.host_if, "type", "veth", "peer", "name", "vg-tmp")
                _ip("-n", self.netns, "link", "set", "vg-tmp", "netns", str(m.leader), "name", m.guest_if)
                _ip("-n", self.netns, "link", "set", m.host_if, "master", "br0", "up")
        return self

    def wait_leader(self, m: Machine, timeout: float = 30) -> int:
        """The machine's PID 1 (nspawn's child running ``sleep``), once it is there."""
        assert m.proc is not None
        deadline = time.monotonic() + timeout
        while True:
            for kid in _children(m.proc.pid):
                if _comm(kid) == "sleep":
                    return kid
            if m.proc.poll() is not None:
                log = Path(f"{self.root}/{m.tree}.log").read_text(errors="replace")
                raise RuntimeError(f"systemd-nspawn {m.machine} exited ({m.proc.returncode}): {log[-800:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"systemd-nspawn {m.machine}: no sleep after {timeout:.0f} s")
            time.sleep(0.1)

    def down(self) -> list[str]:
        """Stop and remove everything; what could not be removed (empty when all is gone)."""
        problems: list[str] = []
        for m in self.machines:
            if m.leader is not None:
                try:
                    os.kill(m.leader, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if m.proc is not None and m.proc.poll() is None:
                if m.leader is None:
                    os.kill(m.proc.pid, signal.SIGTERM)
                try:
                    m.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    m.proc.kill()
                    m.proc.wait()
                    problems.append(f"systemd-nspawn {m.machine} had to be killed")
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
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)
            if Path(self.root).exists():
                problems.append(f"{self.root} left")
        return problems


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _comm(pid: int) -> Optional[str]:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)
