"""All five runtimes at once in ONE network namespace: the "server" of issue 9.

``server()`` (a context manager) makes netns ``vt-all-<hex>`` with a bridge ``br0`` (up) and
starts in it, each with the fixture of its own module and each in a private mount namespace:

* dockerd (tests/runtimes/docker.py): ``web`` (default bridge), ``db`` (user network ``net2``),
  ``pz`` (paused);
* podman (tests/runtimes/podman.py): ``web`` (podman's default network), ``pidle`` (paused),
  ``praw`` (running; the test adds a raw veth to it and restarts it);
* LXC (tests/runtimes/lxc.py): ``web`` (veth on br0) and ``lxfz`` (frozen);
* systemd-nspawn (tests/runtimes/nspawn.py): machines ``npa`` (``--network-veth``) and ``npb``
  (``--network-bridge=br0``), whose PID 1 is ``sleep`` in both;
* libvirtd + QEMU (tests/runtimes/libvirt.py): ``…-pc`` running, ``…-q35`` paused, ``…-off``
  shut off, NICs on br0.

So ``web`` names three containers (docker, podman, LXC) and ``sleep`` two machines.

A runtime that cannot start (or is named in ``VT_TOGETHER_OFF=podman,lxc``) is recorded in ``Server.not_tested`` (runtime -> reason) and the
others still run.  Tear-down stops them in reverse order (each removes only what is its own:
the shared netns is never deleted by a runtime), then kills by pid anything still in the
netns (reported as a problem), deletes the netns, and checks the root namespace's firewall is
as before.  Problems are raised as one AssertionError after everything was removed.

``python -m tests.runtimes.together`` brings one up, prints it and waits for Enter.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from tests.runtimes import docker as dk
from tests.runtimes import libvirt as lv
from tests.runtimes import lxc as lx
from tests.runtimes import netns_exec
from tests.runtimes import nspawn as ns
from tests.runtimes import podman as pm

RUNTIMES = ("docker", "podman", "lxc", "nspawn", "libvirt")


class SharedPodman(pm.Podman):
    """tests/runtimes/podman.py's instance, in a netns that is not its own.

    ``start`` makes no netns; ``close`` forgets the netns name first, so its leftover search
    covers only the holder's mount namespace, its directories and its containers' cgroups
    (never the other runtimes in the netns), and it deletes no netns."""

    def __init__(self, netns: str) -> None:
        super().__init__()
        self.ns = netns

    def start(self) -> None:
        """podman.py's start without ``ip netns add`` (the netns and its lo are the server's)."""
        self.base.mkdir(parents=True)
        self.holder = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{self.ns}", "unshare", "--mount", "--propagation", "private",
             "sh", "-c", pm.HOLDER_SCRIPT],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        assert self.holder.stdout is not None
        line = self.holder.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"holder did not start: {self.holder.stderr.read() if self.holder.stderr else ''}")
        (self.base / "holder.pid").write_text(f"{self.holder.pid} {pm._start_time(self.holder.pid)}\n")

    def close(self) -> list[str]:
        self.ns = f"vt-pm-{self.hex}-gone"  # no such netns: leftovers() then skips the netns test
        try:
            problems = super().close()
            for _ in range(20):
                left = netns_exec.remove_cgroups(self.cgdir)
                if not left:
                    break
                time.sleep(0.1)
            else:
                problems.append(f"cgroups left: {left}")
            return problems
        finally:
            for pipe in (self.holder.stdout, self.holder.stderr) if self.holder else ():
                if pipe is not None:
                    pipe.close()


@dataclass
class Server:
    netns: str
    docker: Optional[dk.DockerRuntime] = None
    podman: Optional[SharedPodman] = None
    lxc: Optional[lx.LxcSite] = None
    nspawn: Optional[ns.NspawnSite] = None
    libvirt: Optional[lv.LibvirtLab] = None
    not_tested: dict[str, str] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)  # runtime -> seconds to bring it up

    @property
    def tested(self) -> list[str]:
        return [r for r in RUNTIMES if getattr(self, r) is not None]


def _pids_in_netns(netns: str) -> list[int]:
    r = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True)
    return [int(p) for p in r.stdout.split()]


def _up_docker(srv: Server, stack: ExitStack) -> None:
    cm = dk.docker_runtime(netns=srv.netns, populate=False)
    rt = cm.__enter__()
    stack.push(cm.__exit__)
    rt.cli("run", "-d", "--name", "web", dk.IMAGE, "sleep", "1000000")
    rt.cli("network", "create", "net2")
    rt.cli("run", "-d", "--name", "db", "--network", "net2", dk.IMAGE, "sleep", "1000000")
    rt.cli("run", "-d", "--name", "pz", dk.IMAGE, "sleep", "1000000")
    rt.cli("pause", "pz")
    for c in rt.ps():
        rt.ids[c["Names"]] = c["ID"]
    srv.docker = rt


def _docker_down_first(rt: dk.DockerRuntime) -> None:
    """What docker.py's tear-down does not know of this population: unpause pz, drop net2."""
    if rt.alive():
        rt.cli("unpause", "pz", check=False, timeout=20)
        ids = rt.cli("ps", "-aq", check=False, timeout=20).stdout.split()
        if ids:
            rt.cli("rm", "-f", *ids, check=False, timeout=60)


def _up_podman(srv: Server, stack: ExitStack) -> None:
    pm.sweep_stale()
    p = SharedPodman(srv.netns)

    def close(*_: Any) -> None:
        problems = p.close()
        if problems:
            raise AssertionError(f"podman left: {problems}")

    stack.push(close)
    p.start()
    p.make_image()
    p.run("web")
    p.run("pidle")
    p.podman("pause", "pidle")
    p.run("praw")
    srv.podman = p


def _up_lxc(srv: Server, stack: ExitStack) -> None:
    site = lx.LxcSite([lx.LxcContainer("web", "02:4c:58:00:00:01"),
                       lx.LxcContainer("lxfz", "02:4c:58:00:00:02", frozen=True)], netns=srv.netns)

    def down(*_: Any) -> None:
        problems = site.down()
        if problems:
            raise AssertionError(f"LXC left: {problems}")

    stack.push(down)
    site.up()
    srv.lxc = site


def _up_nspawn(srv: Server, stack: ExitStack) -> None:
    site = ns.NspawnSite([ns.Machine("npa", network="veth"), ns.Machine("npb", network="bridge")],
                         netns=srv.netns)

    def down(*_: Any) -> None:
        problems = site.down()
        if problems:
            raise AssertionError(f"nspawn left: {problems}")

    stack.push(down)
    site.up()
    srv.nspawn = site


def _up_libvirt(srv: Server, stack: ExitStack) -> None:
    cm = lv.libvirt_lab(netns=srv.netns)
    lab = cm.__enter__()
    stack.push(cm.__exit__)
    srv.libvirt = lab


STARTERS = {"docker": _up_docker, "podman": _up_podman, "lxc": _up_lxc, "nspawn": _up_nspawn,
            "libvirt": _up_libvirt}
WHY_NOT = {"docker": dk.why_not, "podman": pm.available, "lxc": lx.available, "nspawn": ns.available,
           "libvirt": lv.why_not}


@contextmanager
def server(only: Optional[tuple[str, ...]] = None) -> Iterator[Server]:
    """The five runtimes in one netns (``only``: a subset, the rest recorded as not asked for)."""
    tag = secrets.token_hex(4)
    srv = Server(netns=f"vt-all-{tag}")
    fw_before = dk.firewall_state()
    problems: list[str] = []
    subprocess.run(["ip", "netns", "add", srv.netns], check=True)
    try:
        for cmd in (["link", "set", "lo", "up"], ["link", "add", "br0", "type", "bridge"],
                    ["link", "set", "br0", "up"]):
            subprocess.run(["ip", "-n", srv.netns, *cmd], check=True)
        off = {r.strip() for r in os.environ.get("VT_TOGETHER_OFF", "").split(",") if r.strip()}
        with ExitStack() as outer:
            for rt in RUNTIMES:
                if only is not None and rt not in only:
                    srv.not_tested[rt] = "not asked for"
                    continue
                if rt in off:
                    srv.not_tested[rt] = "turned off by VT_TOGETHER_OFF"
                    continue
                why = WHY_NOT[rt]()
                if why:
                    srv.not_tested[rt] = why
                    continue
                stack = ExitStack()
                t0 = time.monotonic()
                try:
                    STARTERS[rt](srv, stack)
                except Exception as e:  # this runtime cannot run here: the others still do
                    setattr(srv, rt, None)
                    srv.not_tested[rt] = f"{type(e).__name__}: {str(e).strip()[-600:]}"
                    try:
                        stack.close()
                    except Exception as e2:
                        problems.append(f"{rt} (failed to start) left: {e2}")
                    continue
                srv.started[rt] = time.monotonic() - t0
                outer.push(_guard(rt, stack, problems))
                if rt == "docker":  # LIFO: runs before docker.py's own tear-down
                    outer.push(_guard("docker (unpause, rm)", _callback_stack(_docker_down_first, srv.docker),
                                      problems))
            yield srv
    finally:
        left = _pids_in_netns(srv.netns)
        if left:
            problems.append(f"processes left in {srv.netns}: " + ", ".join(f"{p}:{_comm(p)}" for p in left))
            for _ in range(50):
                for p in left:
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.1)
                left = _pids_in_netns(srv.netns)
                if not left:
                    break
        r = subprocess.run(["ip", "netns", "del", srv.netns], capture_output=True, text=True)
        if r.returncode != 0:
            problems.append(f"ip netns del {srv.netns}: {r.stderr.strip()}")
        fw_after = dk.firewall_state()
        if fw_after != fw_before:
            problems.append("the root namespace's firewall changed: "
                            + ", ".join(k for k in fw_after if fw_after.get(k) != fw_before.get(k)))
        if problems:
            raise AssertionError("the five-runtime server left things behind: " + "; ".join(problems))


def _guard(rt: str, stack: ExitStack, problems: list[str]) -> Any:
    """An exit callback closing one runtime's stack; its failure is collected, the others still close."""
    def close(*_: Any) -> bool:
        try:
            stack.close()
        except Exception as e:
            problems.append(f"{rt}: {type(e).__name__}: {e}")
        return False
    return close


# ---------------------------------------------------------------- what each runtime's own CLI says


def owners_say(srv: Server, rt: str) -> dict[str, dict[str, Any]]:
    """Name -> {state, and id / image / pid where the CLI says} of what ``rt`` runs in the server, as
    its own CLI reports it, for the containers and VMs that have a network (running, paused,
    frozen): docker ps, podman ps, lxc-ls --fancy, the nspawn command lines, virsh list."""
    return SAYS[rt](srv)


def _docker_says(srv: Server) -> dict[str, dict[str, Any]]:
    assert srv.docker is not None
    return {c["Names"]: {"id": c["ID"], "state": c["State"], "image": c["Image"]}
            for c in srv.docker.ps() if c["State"] in ("running", "paused")}


def _podman_says(srv: Server) -> dict[str, dict[str, Any]]:
    assert srv.podman is not None
    return {c["Names"][0]: {"id": c["Id"], "state": c["State"], "image": c["Image"]}
            for c in srv.podman.ps() if c["State"] in ("running", "paused")}


def _lxc_says(srv: Server) -> dict[str, dict[str, Any]]:
    assert srv.lxc is not None
    return {n: {"id": f"{srv.lxc.lxcpath}/{n}", "state": st.lower()} for n, st in srv.lxc.fancy().items()
            if st in ("RUNNING", "FROZEN")}


def _nspawn_says(srv: Server) -> dict[str, dict[str, Any]]:
    """No machined here (--register=no): the machine name is nspawn's -M (or its directory) on its
    command line, running while that nspawn and its PID 1 (``sleep``) live."""
    assert srv.nspawn is not None
    out = {}
    for m in srv.nspawn.machines:
        if m.proc is None or m.proc.poll() is not None or m.leader is None:
            continue
        with open(f"/proc/{m.proc.pid}/cmdline", "rb") as f:
            argv = [a.decode() for a in f.read().split(b"\0") if a]
        name = argv[argv.index("-M") + 1] if "-M" in argv else os.path.basename(argv[argv.index("-D") + 1])
        out[name] = {"state": "running", "pid": m.leader}
    return out


def _virsh_says(srv: Server) -> dict[str, dict[str, Any]]:
    assert srv.libvirt is not None
    out = {}
    for line in srv.libvirt.virsh("list", "--all").stdout.splitlines():
        f = line.split(None, 2)
        if len(f) == 3 and f[2].strip() != "shut off":  # a shut-off domain has no QEMU, no tap
            out[f[1]] = {"id": srv.libvirt.virsh("domuuid", f[1]).stdout.strip(), "state": f[2].strip()}
    return out


SAYS = {"docker": _docker_says, "podman": _podman_says, "lxc": _lxc_says, "nspawn": _nspawn_says,
        "libvirt": _virsh_says}


def _callback_stack(fn: Any, *args: Any) -> ExitStack:
    st = ExitStack()
    st.callback(fn, *args)
    return st


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def main() -> None:
    with server() as srv:
        print(f"netns {srv.netns}; up: {srv.tested}; NOT TESTED: {srv.not_tested}")
        for rt, s in srv.started.items():
            print(f"  {rt}: {s:.1f} s to start")
        if srv.docker:
            print(f"DOCKER_HOST=unix://{srv.docker.socket} DOCKER_API_VERSION=1.41 {dk.DOCKER} ps -a")
        if srv.podman:
            print(" ".join([*srv.podman.enter(), "podman", *srv.podman.flags, "ps", "-a"]))
        if srv.lxc:
            print(f"lxc path {srv.lxc.lxcpath}")
        if srv.libvirt:
            print(f"virsh -c '{srv.libvirt.uri}' list --all")
        input("Enter stops it and removes everything… ")


if __name__ == "__main__":
    main()
