"""A real dockerd with real containers, inside a network namespace and a private mount namespace.

``docker_runtime()`` (a context manager) makes:

* a netns ``vt-dk-<hex>``;
* ``dockerd`` started in it by ``ip netns exec NS unshare --mount --propagation private``.
  In that mount namespace only: a fresh tmpfs on /run (the data root, exec root, API socket,
  containerd's and the shims' sockets, /run/docker/plugins all live there), a fresh tmpfs on
  /etc/docker (dockerd 20.10 writes its trust key ``key.json`` there), and the cgroup v1
  hierarchies mounted again under a fresh /sys/fs/cgroup (``ip netns exec`` remounts /sys
  for the new netns, which hides them: dockerd then refuses with "Devices cgroup isn't
  mounted").  Flags: ``--exec-root``, ``--data-root``, ``-H unix://…``, ``--pidfile``, an
  empty ``--config-file``, ``--cgroup-parent=/vt-dk-<hex>`` (containers' cgroups under a
  parent of ours, cgroupfs driver: the default without systemd), ``--userland-proxy=false``;
  iptables stays on, inside the netns only (nf_tables is per netns).  The storage driver is
  dockerd's own choice: overlay2 works on that tmpfs here (kernel 6.18); where overlay does
  not, dockerd picks vfs by itself (``storage_driver=`` forces one).  Nothing is created in the real /run,
  /etc or /var, and the mounts vanish with the namespace's last process;
* an image ``vt-busybox:1`` imported from a tarball of Debian's ``busybox-static`` (made once
  with ``apt-get download`` into /var/cache/vnet-tui/docker; no registry is reached);
* containers ``web1`` (default bridge), ``db1`` (user network ``net2``), ``pz1`` (running,
  then ``docker pause``) and ``ex1`` (exited with status 3).

Tear-down removes the containers and networks, stops dockerd (SIGTERM; it stops its
containerd), kills by pid whatever is still in the netns, deletes the netns, removes the
cgroup directories and the host-side scratch directory, and asserts that no process of it is
left and that the root namespace's firewall (iptables-save, ip6tables-save, both nft and
legacy) is exactly as before.

``python -m tests.runtimes.docker`` brings one up, prints how to reach it and waits for Enter.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

DOCKERD = "/usr/sbin/dockerd"
DOCKER = "/usr/bin/docker"  # the 20.10 client; /usr/local/bin/docker is too new for this daemon
IMAGE = "vt-busybox:1"
CACHE = Path(os.environ.get("VNET_TUI_DOCKER_CACHE", "/var/cache/vnet-tui/docker"))
APPLETS = ("sh", "sleep", "true", "false", "cat", "ls", "ip", "hostname", "ifconfig", "echo")
ROOT_SYSCTLS = ("net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding", "net/bridge/bridge-nf-call-iptables",
                "net/bridge/bridge-nf-call-ip6tables")
FIREWALL_DUMPS = ("iptables-save", "ip6tables-save", "iptables-legacy-save", "ip6tables-legacy-save")

# inside the daemon's own mount namespace (paths as dockerd sees them)
RUN = "/run/vt-dk"
DATA_ROOT = f"{RUN}/data"
EXEC_ROOT = f"{RUN}/exec"
SOCKET = f"{DATA_ROOT}/docker.sock"
# dockerd is told the socket through /var/run (-> /run on Debian, absolute), as the default
# /var/run/docker.sock is: a reader outside must resolve that symlink inside dockerd's root
SOCKET_FLAG = f"/var{SOCKET}"

# runs as the process that becomes dockerd: $1 = host scratch dir, $2 = cgroup mounts file
START = r"""
set -e
mount -t tmpfs -o mode=0755 vt-dk-run /run
mkdir -p /run/lock
if [ -d /etc/docker ]; then mount -t tmpfs -o mode=0755 vt-dk-etc /etc/docker; fi
mount -t tmpfs -o mode=0755 vt-dk-cgroup /sys/fs/cgroup
while read -r dir fstype opts; do
  mkdir -p "$dir"
  if [ "$opts" = - ]; then mount -t "$fstype" cgroup "$dir"; else mount -t "$fstype" -o "$opts" cgroup "$dir"; fi
done < "$2"
shift 2
exec "$@"
"""


class DockerUnavailable(RuntimeError):
    """dockerd cannot run on this machine (the message says why): report it as NOT TESTED."""


@dataclass
class DockerRuntime:
    """A running dockerd of ours and how to reach it from outside its mount namespace."""

    netns: str
    tag: str
    scratch: Path
    pid: int = 0
    storage_driver: str = ""
    pid_namespace: bool = False  # dockerd as pid 1 of a pid namespace of its own (as in an LXC container)
    shared: bool = False  # the netns is the caller's (other runtimes in it too): neither made nor removed here
    mnt_ino: int = 0  # dockerd's mount namespace (containerd and the shims inherit it)
    ids: dict[str, str] = field(default_factory=dict)  # container name -> 64-hex id

    @property
    def cgroup_parent(self) -> str:
        """The containers' cgroup parent (``--cgroup-parent``), without the leading slash."""
        return f"vt-dk-{self.tag}"

    @property
    def socket(self) -> str:
        """The API socket as our process reaches it."""
        return f"/proc/{self.pid}/root{SOCKET}"

    def path(self, p: str) -> str:
        """A path inside dockerd's mount namespace, as we can open it."""
        return f"/proc/{self.pid}/root{p}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DOCKER_HOST"] = f"unix://{self.socket}"
        env["DOCKER_API_VERSION"] = "1.41"
        env.pop("DOCKER_CONTEXT", None)
        return env

    def cli(self, *args: str, check: bool = True, timeout: float = 120, stdin: Any = None,
            ) -> subprocess.CompletedProcess:
        r = subprocess.run([DOCKER, *args], env=self.env(), capture_output=True, text=stdin is None,
                           timeout=timeout, stdin=stdin)
        if check and r.returncode != 0:
            err = r.stderr if isinstance(r.stderr, str) else r.stderr.decode(errors="replace")
            raise RuntimeError(f"docker {' '.join(args)}: exit {r.returncode}: {err.strip()}\n{self.log_tail()}")
        return r

    def ps(self) -> list[dict[str, Any]]:
        """``docker ps -a --format '{{json .}}'``, one dict per container."""
        out = self.cli("ps", "-a", "--no-trunc", "--format", "{{json .}}").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def inspect(self, name: str) -> dict[str, Any]:
        return json.loads(self.cli("inspect", name).stdout)[0]

    def log_tail(self, n: int = 3000) -> str:
        try:
            return (self.scratch / "dockerd.log").read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True


def _run(*cmd: str, **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, **kw)


def why_not() -> Optional[str]:
    """Why dockerd cannot be tried here (None when it can)."""
    if os.geteuid() != 0:
        return "needs root"
    for tool in (DOCKERD, DOCKER, "/usr/bin/containerd", "/usr/bin/unshare"):
        if not os.access(tool, os.X_OK):
            return f"{tool} is not installed (make runtimes)"
    return None


def firewall_state() -> dict[str, str]:
    """The root namespace's firewall as each dump tool prints it (timestamps removed), and forwarding."""
    out = {}
    for tool in FIREWALL_DUMPS:
        if shutil.which(tool) is None:
            continue
        r = _run(tool)
        out[tool] = "\n".join(l for l in (r.stdout + r.stderr).splitlines() if not l.startswith("#"))
    for knob in ROOT_SYSCTLS:  # dockerd sets these in its own netns; the root's must not move
        try:
            out[knob] = Path("/proc/sys", knob).read_text().strip()
        except OSError:
            pass
    return out


# ---------------------------------------------------------------- the image


def rootfs_tar() -> Path:
    """A tarball of a busybox-static root file system, built once into the cache."""
    tar = CACHE / "busybox-rootfs.tar"
    if tar.is_file():
        return tar
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vt-dk-img-") as work:
        r = _run("apt-get", "download", "busybox-static", cwd=work)
        if r.returncode != 0:
            _run("apt-get", "update")
            r = _run("apt-get", "download", "busybox-static", cwd=work)
        debs = list(Path(work).glob("busybox-static_*.deb"))
        if not debs:
            raise RuntimeError(f"apt-get download busybox-static failed: {r.stderr.strip()[-500:]}")
        _run("dpkg", "-x", str(debs[0]), f"{work}/x").check_returncode()
        busybox = Path(work) / "x/bin/busybox"
        tmp = tar.with_suffix(".tmp")
        with tarfile.open(tmp, "w") as t:
            for d in ("bin", "etc", "tmp", "proc", "sys", "dev"):
                info = tarfile.TarInfo(d)
                info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
                t.addfile(info)
            t.add(str(busybox), "bin/busybox")
            for a in APPLETS:
                info = tarfile.TarInfo(f"bin/{a}")
                info.type, info.linkname = tarfile.SYMTYPE, "busybox"
                t.addfile(info)
        os.replace(tmp, tar)
    return tar


# ---------------------------------------------------------------- start and stop


def _cgroup_mounts() -> list[tuple[str, str, str]]:
    """(dir, fstype, super options) of every cgroup file system we see, to mount them again."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields, rest = pre.split(), post.split()
            if len(rest) >= 3 and rest[0] in ("cgroup", "cgroup2") and fields[4].startswith("/sys/fs/cgroup/"):
                opts = ",".join(o for o in rest[2].split(",") if o not in ("rw", "ro")) or "-"
                out.append((fields[4], rest[0], opts))
    return out


def _netns_inode(name: str) -> int:
    return os.stat(f"/run/netns/{name}").st_ino


def pids_in_netns(ino: int) -> list[int]:
    """Every process whose network namespace is ``ino``."""
    out = []
    for e in os.scandir("/proc"):
        if e.name.isdigit():
            try:
                if os.stat(f"/proc/{e.name}/ns/net").st_ino == ino:
                    out.append(int(e.name))
            except OSError:
                pass
    return out


def pids_in_mnt(ino: int) -> set[int]:
    """Every process whose mount namespace is ``ino`` (none for 0)."""
    out: set[int] = set()
    if not ino:
        return out
    for e in os.scandir("/proc"):
        if e.name.isdigit():
            try:
                if os.stat(f"/proc/{e.name}/ns/mnt").st_ino == ino:
                    out.add(int(e.name))
            except OSError:
                pass
    return out


def _start(rt: DockerRuntime, storage_driver: Optional[str]) -> subprocess.Popen:
    mounts = rt.scratch / "cgroups"
    mounts.write_text("".join(f"{d} {t} {o}\n" for d, t, o in _cgroup_mounts()))
    (rt.scratch / "daemon.json").write_text("{}\n")
    cmd = [DOCKERD, "--data-root", DATA_ROOT, "--exec-root", EXEC_ROOT, "-H", f"unix://{SOCKET_FLAG}",
           "--pidfile", f"{EXEC_ROOT}/dockerd.pid", "--config-file", str(rt.scratch / "daemon.json"),
           "--cgroup-parent", f"/{rt.cgroup_parent}", "--userland-proxy=false", "--log-level", "warn"]
    if storage_driver:
        cmd += ["--storage-driver", storage_driver]
    log = open(rt.scratch / "dockerd.log", "ab")
    try:
        # ip netns exec and unshare both exec: the Popen pid becomes dockerd's (unless unshare
        # forks into a new pid namespace: then dockerd is its child, found by _find_dockerd)
        pidns = ["--pid", "--fork", "--mount-proc", "--kill-child"] if rt.pid_namespace else []
        return subprocess.Popen(
            ["ip", "netns", "exec", rt.netns, "unshare", "--mount", "--propagation", "private", *pidns, "--",
             "sh", "-c", START, "start", str(rt.scratch), str(mounts), *cmd],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        log.close()


def _find_dockerd(ino: int) -> int:
    """Our pid of the dockerd in network namespace ``ino`` (0 while there is none)."""
    for p in pids_in_netns(ino):
        try:
            with open(f"/proc/{p}/comm") as f:
                if f.read().strip() == "dockerd":
                    return p
        except OSError:
            pass
    return 0


def _wait_ready(rt: DockerRuntime, proc: subprocess.Popen, ino: int, deadline_s: float = 90) -> Optional[str]:
    """None once the API answers; else why not."""
    from vnet_tui.owners.http_unix import UnixHTTP

    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            return f"dockerd exited with {proc.returncode}: {rt.log_tail(800)}"
        if rt.pid_namespace:
            rt.pid = _find_dockerd(ino)
            if not rt.pid:
                time.sleep(0.1)
                continue
        try:
            with UnixHTTP(rt.socket, timeout=5.0) as api:
                if api.request("GET", "/_ping")[0] == 200:
                    rt.storage_driver = api.json("GET", "/info").get("Driver", "")
                    return None
        except Exception:  # not listening yet, or still starting up
            pass
        time.sleep(0.2)
    return f"dockerd did not answer on {SOCKET} within {deadline_s:.0f} s: {rt.log_tail(800)}"


def _populate(rt: DockerRuntime) -> None:
    with open(rootfs_tar(), "rb") as f:
        rt.cli("import", "--change", 'CMD ["/bin/sh"]', "-", IMAGE, stdin=f)
    rt.cli("run", "-d", "--name", "web1", IMAGE, "sleep", "1000000")
    rt.cli("network", "create", "net2")
    rt.cli("run", "-d", "--name", "db1", "--network", "net2", IMAGE, "sleep", "1000000")
    rt.cli("run", "-d", "--name", "pz1", IMAGE, "sleep", "1000000")
    rt.cli("pause", "pz1")
    rt.cli("run", "--name", "ex1", IMAGE, "sh", "-c", "exit 3", check=False)
    for c in rt.ps():
        rt.ids[c["Names"]] = c["ID"]


def cgroup_pids(parent: str) -> set[int]:
    """Every process in a cgroup under ``/parent`` in any hierarchy."""
    out: set[int] = set()
    for hier in Path("/sys/fs/cgroup").iterdir():
        top = hier / parent.lstrip("/")
        if top.is_dir():
            for procs in top.rglob("cgroup.procs"):
                try:
                    out.update(int(x) for x in procs.read_text().split())
                except (OSError, ValueError):
                    pass
    return out


def _thaw(parent: str) -> None:
    top = Path("/sys/fs/cgroup/freezer") / parent.lstrip("/")
    if top.is_dir():
        for state in top.rglob("freezer.state"):
            try:
                state.write_text("THAWED")
            except OSError:
                pass


def _rm_cgroups(parent: str) -> None:
    for hier in Path("/sys/fs/cgroup").iterdir():
        top = hier / parent.lstrip("/")
        if not top.is_dir():
            continue
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [top]:
            try:
                d.rmdir()
            except OSError:
                pass


def _teardown(rt: DockerRuntime, proc: Optional[subprocess.Popen], ino: Optional[int]) -> list[str]:
    """Stop everything; returns what could not be removed."""
    problems: list[str] = []
    if proc is not None and proc.poll() is None and rt.pid:
        try:
            rt.cli("unpause", "pz1", check=False, timeout=20)
            ids = rt.cli("ps", "-aq", check=False, timeout=20).stdout.split()
            if ids:
                rt.cli("rm", "-f", *ids, check=False, timeout=60)
            rt.cli("network", "rm", "net2", check=False, timeout=20)
        except (subprocess.TimeoutExpired, OSError):
            pass
        try:
            os.kill(rt.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            problems.append("dockerd ignored SIGTERM for 20 s")
    _thaw(f"/{rt.cgroup_parent}")  # a frozen (paused) process does not die of SIGKILL until thawed
    if ino is not None:
        # containerd, shims (in the netns), and containers (each in a netns of its own, but all
        # in cgroups under ours) when dockerd could not remove them itself
        def ours() -> set[int]:
            # a shared netns holds other runtimes too: only dockerd's mount namespace and our cgroups
            return (pids_in_mnt(rt.mnt_ino) if rt.shared else set(pids_in_netns(ino))) | cgroup_pids(rt.cgroup_parent)

        for _ in range(50):
            left = sorted(ours())
            if not left:
                break
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        left = sorted(ours())
        if left:
            problems.append(f"processes of {rt.netns} still alive: {left}")
    if proc is not None:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            problems.append(f"dockerd {proc.pid} did not exit")
    if not rt.shared:
        _run("ip", "netns", "del", rt.netns)
    _rm_cgroups(f"/{rt.cgroup_parent}")
    left_cg = [str(h / rt.cgroup_parent) for h in Path("/sys/fs/cgroup").iterdir() if (h / rt.cgroup_parent).exists()]
    if left_cg:
        problems.append(f"cgroups left: {left_cg}")
    mine = _run("pgrep", "-a", "-f", rt.tag).stdout.strip()
    if mine:
        problems.append(f"processes of ours left: {mine}")
    shutil.rmtree(rt.scratch, ignore_errors=True)
    return problems


@contextmanager
def docker_runtime(storage_driver: Optional[str] = None, populate: bool = True, pid_namespace: bool = False,
                   netns: Optional[str] = None) -> Iterator[DockerRuntime]:
    """dockerd in a netns of its own with web1, db1 (net2), pz1 (paused), ex1 (exited).

    ``populate=False``: only the image, no containers.  ``pid_namespace=True``: dockerd is
    pid 1 of a pid namespace of its own (as in an LXC container), so the pids it reports are
    not ours.

    ``netns``: an existing namespace (shared with other runtimes) to run dockerd in; it is neither
    made nor removed here, and tear-down kills only what is dockerd's (its mount namespace, its
    containers' cgroups), never the other runtimes in it.  ``populate`` is then the caller's job
    (``populate=False`` imports only the image).

    Raises ``DockerUnavailable`` (its message says why) when dockerd cannot be started here.
    """
    reason = why_not()
    if reason:
        raise DockerUnavailable(reason)
    tag = secrets.token_hex(4)
    rt = DockerRuntime(netns=netns or f"vt-dk-{tag}", tag=tag,
                       scratch=Path(tempfile.mkdtemp(prefix=f"vt-dk-{tag}-")), pid_namespace=pid_namespace,
                       shared=bool(netns))
    fw_before = firewall_state()
    proc: Optional[subprocess.Popen] = None
    ino: Optional[int] = None
    problems: list[str] = []
    try:
        if not rt.shared:
            _run("ip", "netns", "add", rt.netns).check_returncode()
            _run("ip", "-n", rt.netns, "link", "set", "lo", "up").check_returncode()
        ino = _netns_inode(rt.netns)
        proc = _start(rt, storage_driver)
        rt.pid = 0 if pid_namespace else proc.pid
        why = _wait_ready(rt, proc, ino)
        if why is not None:
            raise DockerUnavailable(why)
        try:
            rt.mnt_ino = os.stat(f"/proc/{rt.pid}/ns/mnt").st_ino
        except OSError:
            pass
        if populate:
            _populate(rt)
        else:
            with open(rootfs_tar(), "rb") as f:
                rt.cli("import", "--change", 'CMD ["/bin/sh"]', "-", IMAGE, stdin=f)
        yield rt
    finally:
        problems = _teardown(rt, proc, ino)
        fw_after = firewall_state()
        if fw_after != fw_before:
            problems.append("the root namespace's firewall changed: "
                            + ", ".join(k for k in fw_after if fw_after.get(k) != fw_before.get(k)))
        if problems:
            raise AssertionError("docker runtime left things behind: " + "; ".join(problems))


def main() -> None:
    with docker_runtime() as rt:
        print(f"netns {rt.netns}, dockerd pid {rt.pid}, storage driver {rt.storage_driver}")
        print(f"DOCKER_HOST=unix://{rt.socket} DOCKER_API_VERSION=1.41 {DOCKER} ps -a")
        for name, cid in sorted(rt.ids.items()):
            print(f"  {name}: {cid}")
        input("Enter stops it and removes everything… ")


if __name__ == "__main__":
    main()
