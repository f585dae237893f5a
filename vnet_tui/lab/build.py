"""``lab up``: build a lab, fast, and remove what was made when anything fails.

The keeper process (keeper.py) makes the namespaces and processes; this
side makes the links and addresses while the keeper is still making
namespaces:

    keeper: host netns ─────────────────────── VMs ─ namespaces + holders ct101 … ctN (streamed) ─ sleep
    here:              br0 (br1… + links), taps ─ "V" ─ veths + addresses per reported holder ─ wait QMP

Each veth is one RTM_NEWLINK (host end on its bridge and up, peer named
``eth0`` already in the container's namespace, one queue each way, echoed
so the peer's ifindex needs no lookup: bulk.py), up to 128 in one send; each
container then takes one send and one answer (loopback up, eth0 without
IPv6 link-local, eth0 up, IPv4, IPv6; only the last asks for an ACK).

What made 5,000 containers take minutes (178–185 s; 23–26 s now, measured
with each change below left out in turn) was work that grew with the lab
for every container added, so the whole build grew with its square:

- the bridges are down while their ports are added, and come up (br0 the
  multicast querier) once every container is in (without: 131 s).  On an up
  bridge whose querier is on, each port added made a query go out of every
  port (the kernel restarts every port's own queries when the ports' states
  are recomputed): each container received one, IPv4 and IPv6, for every
  port added to its bridge after it.  Without the querier the bridges flood
  every container's MLD reports and solicitations to every port instead.
  Up at the end: a query per port, once.
- host ends (and taps, and the links between bridges) have no IPv6 (without:
  46 s): the host namespace's default is ``disable_ipv6`` while the lab is
  built, restored after, so adapters added later get the kernel's usual
  IPv6.  With it, each host end's DAD, router solicitations and MLD reports
  were routed past every other host end's link-local and multicast route.
  br0 keeps IPv6 (its address; the querier sends from its link-local).
- container ends make no IPv6 link-local (bulk.no_link_local; without:
  31 s): their static IPv6 address is added without DAD, and they send no
  solicitations for the bridges to flood.

This side keeps its system calls per container few (bulk.sockets_in:
setns + socket per namespace, one return home per batch); no sysctl is
written per namespace (a path under /proc/sys is looked up past every
namespace's entry of the same name: 5,000 namespaces, 5,000 compares).

A lab bigger than a bridge's 1,024 ports gets br1, br2, … (names.py),
each linked to br0 by a veth pair: one L2 segment, br0 its gateway.

Over 300 lines on purpose: one build, whose steps (host, bridges, taps,
containers in batches, VMs) share the builder's state — the keeper's
channel, the sockets, what was made so far for the rollback; the parts that
stand alone live beside it (bulk, keeper, kernel, names, limits, info).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from typing import Callable, Optional

from vnet_tui.core.errors import ChangeFailed, InvalidInput, NotPermitted, VnetError
from vnet_tui.core.readable import readable
from vnet_tui.net.netns import entered, open_netns

from . import bulk, kernel, nl, registry
from . import limits
from .info import BridgeInfo, ContainerInfo, LabInfo, VmInfo
from .names import BRIDGE, BRIDGE_IPV4, BRIDGE_IPV6, ContainerPlan, LabPlan, LabSpec, plan
from .teardown import teardown
from .vms import BootArgs, QmpWait, VmFiles, check_socket_path, find_qemu, log_tail, qemu_argv, vm_files

Progress = Callable[[str], None]
EVENT_TIMEOUT = 30.0  # s of silence from the keeper, unless it is waiting in the kernel:
KERNEL_TIMEOUT = 300.0  # then up to this
PROGRESS_EVERY = 0.5  # s: progress lines at most this often
LINK_LOCAL_WAIT = 10.0  # s: at most this for br0's link-local once the bridges are up
# Namespace-wide sysctls the keeper sets before anything is in a namespace.
# None: adapters added later behave as on a real server.  (The host ends'
# IPv6 is off through the host namespace's default while the lab is built:
# _Builder.build_host, finish_host.)
HOST_SYSCTLS: list[list[str]] = []
CT_SYSCTLS: list[list[str]] = []
HOST_END_IPV6 = "net/ipv6/conf/default/disable_ipv6"  # in the host namespace: "1" while building


class _Keeper:
    """The keeper process as this side sees it: pid, command pipe, report lines."""

    def __init__(self, lab_dir: str, plan_json: dict) -> None:
        cmd_r, self.cmd_w = os.pipe()
        self.rep_r, rep_w = os.pipe()
        log = os.path.join(lab_dir, "keeper.log")
        try:
            self.pid = os.posix_spawn(
                sys.executable, [sys.executable, "-m", "vnet_tui.lab.keeper"], dict(os.environ),
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, cmd_r, 0),
                    (os.POSIX_SPAWN_DUP2, rep_w, 1),
                    (os.POSIX_SPAWN_OPEN, 2, log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                ],
                setsid=True,
            )
        finally:
            os.close(cmd_r)
            os.close(rep_w)
        self.log = log
        self._buf = b""
        self.send(json.dumps(plan_json))

    def send(self, line: str) -> None:
        try:
            os.write(self.cmd_w, (line + "\n").encode())
        except BrokenPipeError:
            pass  # the keeper died; its report stream says why

    def events(self) -> list[list[str]]:
        """The report lines available now, waiting up to EVENT_TIMEOUT for the first."""
        out: list[list[str]] = []
        while True:
            if b"\n" in self._buf:
                lines = self._buf.split(b"\n")
                self._buf = lines.pop()
                out += [l.decode(errors="replace").split(" ", 2) for l in lines if l]
            ready = readable(self.rep_r, 0)
            if out and not ready:
                return out
            if not ready:
                self._wait()
            chunk = os.read(self.rep_r, 1 << 16)
            if not chunk:
                if out:
                    return out
                tail = log_tail(self.log)
                raise ChangeFailed("the lab's keeper process exited before the lab was built"
                                   + (f": {tail}" if tail else ""), rule="lab-build")
            self._buf += chunk

    def _wait(self) -> None:
        """Wait for the keeper's next line: EVENT_TIMEOUT of silence, or up to KERNEL_TIMEOUT while it works.

        A keeper blocked in the kernel (state D: making a namespace while the
        kernel still deletes thousands of another lab's, under the rtnl lock)
        or running is slow, not stuck; one asleep (S) and silent is stuck.
        """
        t0 = time.monotonic()
        while not readable(self.rep_r, EVENT_TIMEOUT):
            if kernel.process_state(self.pid) not in ("D", "R") or time.monotonic() - t0 > KERNEL_TIMEOUT:
                raise ChangeFailed("the lab's keeper process stopped answering", rule="lab-build")

    def close(self) -> None:
        for fd in (self.cmd_w, self.rep_r):
            try:
                os.close(fd)
            except OSError:
                pass


def _claim(name: str) -> str:
    """Make the lab's state folder (atomically: the name is ours) or say the lab exists."""
    os.makedirs(registry.labs_dir(), mode=0o755, exist_ok=True)
    path = registry.lab_dir(name)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        raise InvalidInput(f"lab {name!r} exists (state in {path}); 'vnet-tui lab down {name}' removes it",
                           rule="lab-exists") from None
    left = registry.lab_namespaces(name)
    if left:
        os.rmdir(path)
        raise InvalidInput(f"lab {name!r} exists (namespaces {', '.join(left[:3])}…); "
                           f"'vnet-tui lab down {name}' removes it", rule="lab-exists")
    return path


class _Builder:
    def __init__(self, p: LabPlan, lab_dir: str, qemu: Optional[str], boot: Optional[BootArgs],
                 progress: Optional[Progress]) -> None:
        self.p = p
        self.name = p.spec.name
        self.dir = lab_dir
        self.qemu = qemu
        self.boot = boot
        self.progress = progress
        self.files: dict[str, VmFiles] = {v.name: vm_files(self.name, lab_dir, v) for v in p.vms}
        self.argvs = {v.name: qemu_argv(qemu, v, self.files[v.name], boot) for v in p.vms} if qemu else {}
        self.keeper: Optional[_Keeper] = None
        self.host_fd = -1
        self.hb: Optional[nl.Batch] = None
        self.hc: Optional[bulk.Channel] = None
        self.br_index: dict[str, int] = {}
        self.ipv6_default: Optional[str] = None  # the host namespace's default disable_ipv6, to restore
        self.ct_pids: dict[int, int] = {}
        self.vm_pids: dict[int, int] = {}
        self.done_ct = 0
        self.t0 = time.monotonic()
        self.said = 0.0
        self.instance = registry.new_instance_id()

    def keeper_plan(self) -> dict:
        return {
            "host_netns": self.p.host_netns,
            "hostname": self.name,
            "sleep": shutil.which("sleep") or "/bin/sleep",
            "host_sysctls": HOST_SYSCTLS,
            "ct_sysctls": CT_SYSCTLS,
            "containers": [[c.netns, c.hostname] for c in self.p.containers],
            "vms": [[self.argvs[v.name], self.files[v.name].log] for v in self.p.vms],
        }

    def save(self, status: str, **extra: object) -> None:
        pid = self.keeper.pid if self.keeper else None
        data = {"name": self.name, "status": status, "instance": self.instance,
                "spec": vars(self.p.spec), "seed": self.p.spec.seed, "keeper_pid": pid, "keeper_start": kernel.process_start(pid) if pid else None, **extra}
        registry.write_state(self.name, data)

    # the host: bridges and taps
    def build_host(self) -> None:
        """Bridges (down until finish_host), the links between them, br0's addresses, the taps.

        Everything made here and every host end after it comes without IPv6
        (the namespace's default, until finish_host); br0 gets it back.
        """
        self.host_fd = open_netns(self.p.host_netns)
        hb = self.hb = nl.Batch(self.host_fd)
        self.hc = bulk.Channel(self.host_fd)
        with entered(self.host_fd):
            self.ipv6_default = kernel.read_sysctl(HOST_END_IPV6)
            kernel.write_sysctl(HOST_END_IPV6, "1")
        # br0 learns every group of the lab (the other bridges pass their reports up to it)
        groups = 1 << max(12, (4 * (len(self.p.containers) + len(self.p.vms))).bit_length())
        hb.run([(nl.new_bridge(hb.next_seq(), br.name, br.mac, groups), f"create {br.name}")
                for br in self.p.bridges])
        hb.run([(nl.set_link(hb.next_seq(), br.name, up=False), f"set {br.name} down until it has its ports")
                for br in self.p.bridges])
        self.br_index = {br.name: hb.link_index(br.name) for br in self.p.bridges}
        br0 = self.br_index[BRIDGE]
        links = [br for br in self.p.bridges if br.uplink]
        # br1…: a veth pair each, br0-brN on br0 and brN-br0 on brN (one segment; br0 the only querier)
        hb.run([(nl.new_veth(hb.next_seq(), br.downlink, br.downlink_mac, br0, br.uplink, br.uplink_mac,
                             self.host_fd), f"create {br.downlink}/{br.uplink}") for br in links])
        hb.run([(nl.set_link(hb.next_seq(), br.uplink, master=self.br_index[br.name]), f"set up {br.uplink}")
                for br in links])
        with entered(self.host_fd):
            # br0's link-local must be usable at once: the querier sends from it
            kernel.write_sysctl(f"net/ipv6/conf/{BRIDGE}/accept_dad", "0")
            kernel.write_sysctl(f"net/ipv6/conf/{BRIDGE}/disable_ipv6", "0")
            for v in self.p.vms:
                kernel.make_tap(v.tap)
        hb.run([(nl.new_addr(hb.next_seq(), br0, a), f"address {a} on {BRIDGE}")
                for a in (BRIDGE_IPV4, BRIDGE_IPV6)]
               + [(nl.set_link(hb.next_seq(), v.tap, mac=v.host_mac, master=br0), f"set up {v.tap}")
                  for v in self.p.vms])

    def finish_host(self) -> None:
        """Every port is in: the bridges up (br0 last, the multicast querier), the host's IPv6 default back."""
        hb = self.hb
        assert hb is not None
        hb.run([(nl.set_link(hb.next_seq(), br.name), f"set {br.name} up") for br in self.p.bridges
                if br.name != BRIDGE]
               + [(nl.querier_on(hb.next_seq(), BRIDGE), f"{BRIDGE}: up, multicast querier on")])
        with entered(self.host_fd):
            if self.ipv6_default is not None:
                kernel.write_sysctl(HOST_END_IPV6, self.ipv6_default)
            # br0 makes its link-local when its carrier comes (linkwatch, up to a second
            # later): the lab is up once br0 is as it will stay (and the querier has its source)
            deadline = time.monotonic() + LINK_LOCAL_WAIT
            while not kernel.has_link_local(BRIDGE) and time.monotonic() < deadline:
                time.sleep(0.01)

    # containers, as their holders report
    def build_containers(self, batch: list[ContainerPlan]) -> None:
        """Each container's veth (one request each, all in one send), then its end up and addressed."""
        assert self.hc is not None
        fds: list[int] = []
        try:
            for c in batch:
                fds.append(open_netns(c.netns))
            hc = self.hc
            first = hc.seq + 1
            peers = hc.run([(bulk.veth(hc.next_seq(), c.host_ifname, c.host_mac, self.br_index[c.bridge],
                                       c.ifname, c.mac, fd), f"create {c.host_ifname}/{c.name}:{c.ifname} on {c.bridge}")
                            for c, fd in zip(batch, fds)])
            socks = bulk.sockets_in(fds)
            try:
                for k, (c, sock) in enumerate(zip(batch, socks)):
                    idx = peers.get(first + k) or bulk.link_index(sock, c.ifname)  # no echo: an older kernel
                    bulk.configure(sock, [
                        (bulk.set_up(1, "lo", ack=False), f"{c.name}: loopback up"),
                        (bulk.no_link_local(2, idx, ack=False), f"{c.name}: {c.ifname} without link-local"),
                        (bulk.set_up(3, c.ifname, ack=False), f"{c.name}: {c.ifname} up"),
                        (bulk.new_addr(4, idx, c.ipv4, ack=False), f"{c.name}: address {c.ipv4}"),
                        (bulk.new_addr(5, idx, c.ipv6), f"{c.name}: address {c.ipv6}")])
            finally:
                for sock in socks:
                    sock.close()
        finally:
            for fd in fds:
                os.close(fd)
        self.done_ct += len(batch)
        self.say_progress()

    def say_progress(self) -> None:
        """``containers 1200/5000 …`` at most every PROGRESS_EVERY seconds, and once when done."""
        total = len(self.p.containers)
        now = time.monotonic()
        if not self.progress or (now - self.said < PROGRESS_EVERY and self.done_ct < total):
            return
        self.said = now
        nb = len(self.p.bridges)
        self.progress(f"containers {self.done_ct}/{total} on {nb} bridge{'s' if nb > 1 else ''} "
                      f"({now - self.t0:.1f} s)" + (" …" if self.done_ct < total else ""))

    def run(self) -> None:
        kernel.prepare_netns_dir()
        self.keeper = _Keeper(self.dir, self.keeper_plan())
        self.save("building")
        ct_total, vm_total = len(self.p.containers), len(self.p.vms)
        host_ready = done = False
        while not (done and len(self.ct_pids) == ct_total and len(self.vm_pids) == vm_total):
            ready: list[ContainerPlan] = []
            for ev in self.keeper.events():
                kind = ev[0]
                if kind == "E":
                    where = ev[1] if len(ev) > 1 else "keeper"
                    msg = ev[2] if len(ev) > 2 else ""
                    if where.startswith("ct:"):
                        where = self.p.containers[int(where[3:])].name
                    code = None
                    if msg.startswith("errno:"):  # the keeper's OSError: explain the limit it met
                        head, _, msg = msg.partition(" ")
                        code = int(head[6:]) if head[6:].isdigit() else None
                    text, rule = limits.explain(code, f"{where}: {msg}")
                    raise ChangeFailed(text, rule=rule)
                if kind == "K":
                    host_ready = True
                    self.build_host()
                    self.keeper.send("V")
                elif kind == "V":
                    self.vm_pids[int(ev[1])] = int(ev[2])
                elif kind == "H":
                    i = int(ev[1])
                    self.ct_pids[i] = int(ev[2])
                    ready.append(self.p.containers[i])
                elif kind == "D":
                    done = True
            if ready:
                assert host_ready
                for k in range(0, len(ready), 128):
                    self.build_containers(ready[k:k + 128])
        if not host_ready:
            raise ChangeFailed("the lab's keeper finished without making the host namespace", rule="lab-build")
        self.finish_host()
        self.keeper.close()
        self.wait_vms()

    def wait_vms(self) -> None:
        waiter = QmpWait({self.files[v.name].qmp: self.vm_pids[j] for j, v in enumerate(self.p.vms)})
        bad = waiter.wait(kernel.alive)
        if bad is not None:
            vm = next(v for v in self.p.vms if self.files[v.name].qmp == bad)
            tail = log_tail(self.files[vm.name].log)
            raise ChangeFailed(f"{vm.name}: QEMU did not start" + (f": {tail}" if tail else ""), rule="lab-vm")

    def info(self, warnings: list[str], seconds: float) -> LabInfo:
        assert self.keeper is not None
        cts = [ContainerInfo(name=c.name, ctid=c.ctid, netns=c.netns, hostname=c.hostname,
                             pid=self.ct_pids[i], start=kernel.process_start(self.ct_pids[i]) or 0,
                             ifname=c.ifname, mac=c.mac, ipv4=c.ipv4, ipv6=c.ipv6,
                             host_ifname=c.host_ifname, host_mac=c.host_mac, bridge=c.bridge)
               for i, c in enumerate(self.p.containers)]
        vms = []
        for j, v in enumerate(self.p.vms):
            f, argv = self.files[v.name], self.argvs[v.name]
            booted = argv[-1] != "-S"  # qemu_argv: paused unless boot added arguments
            vms.append(VmInfo(name=v.name, vmid=v.vmid, pid=self.vm_pids[j],
                              start=kernel.process_start(self.vm_pids[j]) or 0,
                              qmp=f.qmp, log=f.log, adapter=v.adapter,
                              tap=v.tap, guest_mac=v.guest_mac, host_mac=v.host_mac, ipv4=v.ipv4, ipv6=v.ipv6,
                              argv=argv, booted=booted,
                              qga=f.qga if booted and any(f.qga in a for a in argv) else "",
                              console=f.console if booted and any(f.console in a for a in argv) else ""))
        bridges = [BridgeInfo(name=br.name, mac=br.mac, containers=br.containers, uplink=br.uplink,
                              downlink=br.downlink) for br in self.p.bridges]
        return LabInfo(name=self.name, seed=self.p.spec.seed, state_dir=self.dir, host_netns=self.p.host_netns,
                       hostname=self.name, bridge=BRIDGE, bridge_mac=self.p.bridge_mac, bridges=bridges,
                       bridge_ipv4=BRIDGE_IPV4, bridge_ipv6=BRIDGE_IPV6, keeper_pid=self.keeper.pid,
                       keeper_start=kernel.process_start(self.keeper.pid) or 0,
                       containers=cts, vms=vms, warnings=warnings, status="up", seconds=round(seconds, 3),
                       instance=self.instance)

    def close(self) -> None:
        if self.hb is not None:
            self.hb.close()
            self.hb = None
        if self.hc is not None:
            self.hc.close()
            self.hc = None
        if self.host_fd >= 0:
            os.close(self.host_fd)
            self.host_fd = -1
        if self.keeper is not None:
            self.keeper.close()


def up(name: "str | LabSpec", containers: int = 3, vms: int = 2, seed: int = 0, *,
       progress: Optional[Progress] = None, boot: Optional[BootArgs] = None, bridges: int = 0) -> LabInfo:
    """Build lab ``name``; on any failure remove what was made and raise (ChangeFailed: exit 1).

    Raises InvalidInput (exit 2) for a bad name or size and when the lab
    exists, NotPermitted (exit 3) without root.  ``boot`` (see vms.py) makes
    the VMs boot a guest instead of staying paused; None (the default here,
    for benchmarks and tests) keeps them paused — ``vms.guest_boot()`` is
    what ``lab up`` and ``demo`` pass.  ``up`` does not wait for the guests
    (``vms.wait_for_guests``).  Without QEMU it builds the
    containers and no VMs, with a warning in ``LabInfo.warnings``.  ``bridges``: how many bridges
    (0: the fewest the size needs; names.py).  A limit the kernel sets (a bridge's ports, open
    files, processes, namespaces) is named in the error and its rule (limits.py).
    """
    spec = name if isinstance(name, LabSpec) else LabSpec(name, containers, vms, seed, bridges)
    spec.check()
    if os.geteuid() != 0:
        raise NotPermitted("a lab needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN)", rule="privilege")
    t0 = time.monotonic()
    warnings: list[str] = []
    qemu = find_qemu() if spec.vms else None
    if spec.vms and not qemu:
        warnings.append("built no VMs: qemu-system-x86_64 not found")
        spec = dataclasses.replace(spec, vms=0)
    p = plan(spec)
    lab_dir = registry.lab_dir(spec.name)
    for v in p.vms:
        f = vm_files(spec.name, lab_dir, v)
        for q in (f.qmp, f.qga) if boot else (f.qmp,):
            if not check_socket_path(q):
                raise InvalidInput(f"socket path {q!r} is too long for a unix socket; "
                                   f"set {registry.STATE_ENV} to a shorter folder", rule="state-path")
    _claim(spec.name)
    b = _Builder(p, lab_dir, qemu, boot, progress)
    ok = False
    try:
        b.run()
        info = b.info(warnings, time.monotonic() - t0)
        registry.write_state(spec.name, info.to_json())
        ok = True
        return info
    except VnetError:
        raise
    except OSError as e:
        text, rule = limits.explain(e.errno, f"lab {spec.name}: {e}")
        raise ChangeFailed(text, rule=rule) from e
    finally:
        b.close()
        if not ok:
            try:
                teardown(spec.name)
            except Exception as e:  # noqa: BLE001 - the first error matters more
                print(f"vnet-tui: cleaning up lab {spec.name} failed too: {e}", file=sys.stderr)
