"""podman as its processes and files show it: conmon's command line, one podman instance
(its --root, its network definitions, containers/storage), the cgroup freezer.

Read by owners/podman.py.  Every path is read as conmon sees it
(``/proc/CONMON/root/…``): podman may have run in a private mount namespace.
"""

from __future__ import annotations

import glob
import json
import os
from typing import Any, NamedTuple, Optional

from .base import ProcTable, flag_value

RUNTIME = "podman"
DEFAULT_ROOT = "/var/lib/containers/storage"
DEFAULT_NETWORK_DIR = "/etc/containers/networks"  # netavark's, rootful
DEFAULT_CNI_DIR = "/etc/cni/net.d"  # with --network-backend cni (not tested here: no CNI plugins installed)
DEFAULT_NETWORK = {"name": "podman", "bridge": "podman0", "driver": "bridge",
                   "subnets": ["10.88.0.0/16"], "builtin": True}
# libpod/define/containerstate.go: ContainerState and its String()
TIMEOUT = 60.0


class Conmon(NamedTuple):
    """What one podman conmon's command line says."""

    pid: int
    cid: str
    name: Optional[str]
    pidfile: Optional[str]
    bundle: Optional[str]
    command: list[str]  # podman's executable and its global flags, from the exit command


_CONMON_FLAGS = {"-c": "cid", "--cid": "cid", "-n": "name", "--name": "name", "-p": "pidfile",
                 "--container-pidfile": "pidfile", "-b": "bundle", "--bundle": "bundle", "--exit-command": "exe"}


def parse_conmon(pid: int, argv: list[str]) -> Optional[Conmon]:
    """One pass over conmon's arguments; None when it is not podman's (no podman exit command, no id)."""
    got: dict[str, str] = {}
    exit_args: list[str] = []
    i, n = 0, len(argv)
    while i < n:
        a = argv[i]
        if a.startswith("--") and "=" in a:
            k, v = a.split("=", 1)
            if k == "--exit-command-arg":
                exit_args.append(v)
            elif k in _CONMON_FLAGS:
                got[_CONMON_FLAGS[k]] = v
            i += 1
        elif a == "--exit-command-arg" and i + 1 < n:
            exit_args.append(argv[i + 1])
            i += 2
        elif a in _CONMON_FLAGS and i + 1 < n:
            got[_CONMON_FLAGS[a]] = argv[i + 1]
            i += 2
        else:
            if a in ("-e", "--exec"):
                got["exec"] = a
            i += 1
    exe, cid = got.get("exe"), got.get("cid")
    if not exe or os.path.basename(exe) != "podman" or not cid or "exec" in got:
        return None  # not podman's, or a `podman exec` session's conmon (its child is not the init)
    for j in range(len(exit_args) - 1):
        if exit_args[j] == "container" and exit_args[j + 1] == "cleanup":
            exit_args = exit_args[:j]
            break
    return Conmon(pid, cid, got.get("name"), got.get("pidfile"), got.get("bundle"), [exe, *exit_args])


def _ns_inode(pid: int, kind: str) -> Optional[int]:
    try:
        return os.stat(f"/proc/{pid}/ns/{kind}").st_ino
    except OSError:
        return None


def _small(path: str) -> Optional[str]:
    """A /proc or cgroup file's text (read whole: they are small), or None."""
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except (OSError, ValueError):
        return None


def _uid(procs: ProcTable, pid: int) -> Optional[int]:
    """The real uid of ``pid`` (a rootless podman's conmon runs as its user)."""
    for line in (_small(f"{procs.proc}/{pid}/status") or "").splitlines():
        if line.startswith("Uid:"):
            try:
                return int(line.split()[1])
            except (IndexError, ValueError):
                return None
    return None


def _read_json(path: str, limit: int = 16 << 20) -> Any:
    """A JSON file's value, or None (absent, unreadable, larger than ``limit``, not JSON)."""
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size > limit:
                return None
            return json.loads(f.read())
    except (OSError, ValueError):
        return None


class Instance:
    """One podman (one --root), as seen through one of its conmons."""

    def __init__(self, procs: ProcTable, first: Conmon) -> None:
        self.procs = procs
        self.conmon = first.pid
        self.command = first.command  # podman exe + global flags
        flags = first.command[1:]
        self.root = flag_value(flags, "--root") or DEFAULT_ROOT
        self.driver = flag_value(flags, "--storage-driver")
        self.backend = flag_value(flags, "--network-backend") or "netavark"
        self.network_dir = flag_value(flags, "--network-config-dir") or \
            (DEFAULT_CNI_DIR if self.backend == "cni" else DEFAULT_NETWORK_DIR)
        self.conmons: dict[str, Conmon] = {}  # by container id
        self._storage: Optional[dict[str, dict[str, Any]]] = None
        self._controls: dict[int, dict[str, Any]] = {}

    def path(self, path: str) -> str:
        return self.procs.root_path(self.conmon, path)

    def control(self, conmon: Optional[int]) -> dict[str, Any]:
        ctx = conmon if conmon is not None else self.conmon
        if ctx not in self._controls:
            self._controls[ctx] = {"runtime": RUNTIME, "argv": list(self.command), "context_pid": ctx,
                                   "netns_inode": _ns_inode(ctx, "net"), "mntns_inode": _ns_inode(ctx, "mnt"),
                                   "uid": _uid(self.procs, ctx), "timeout": TIMEOUT}
        return dict(self._controls[ctx])

    def engine_networks(self) -> list[dict[str, Any]]:
        """podman's networks: netavark's ``NAME.json`` files (CNI's ``*.conflist`` with that backend),
        plus the built-in ``podman`` network when no file defines it."""
        nets: list[dict[str, Any]] = []
        folder = glob.escape(self.path(self.network_dir))
        if self.backend == "cni":
            for f in sorted(glob.glob(os.path.join(folder, "*.conflist"))):
                doc = _read_json(f)
                if isinstance(doc, dict) and doc.get("name"):
                    bridge = next((p.get("bridge") for p in doc.get("plugins") or []
                                   if isinstance(p, dict) and p.get("type") == "bridge"), None)
                    nets.append({"name": doc["name"], "driver": "bridge" if bridge else None, "bridge": bridge})
            default = {**DEFAULT_NETWORK, "bridge": "cni-podman0"}
        else:
            for f in sorted(glob.glob(os.path.join(folder, "*.json"))):
                doc = _read_json(f)
                if not isinstance(doc, dict) or not doc.get("name"):
                    continue
                nets.append({"name": doc["name"], "id": doc.get("id"), "driver": doc.get("driver"),
                             "bridge": doc.get("network_interface"),
                             "subnets": [s.get("subnet") for s in doc.get("subnets") or [] if isinstance(s, dict)],
                             "internal": bool(doc.get("internal"))})
            default = dict(DEFAULT_NETWORK)
        if not any(n["name"] == DEFAULT_NETWORK["name"] for n in nets):
            nets.append(default)
        return nets

    def storage(self) -> dict[str, dict[str, Any]]:
        """containers/storage's records by id: names and image name (the fallback source)."""
        if self._storage is None:
            self._storage = {}
            if self.driver:
                files = [self.path(f"{self.root}/{self.driver}-containers/containers.json")]
            else:
                files = glob.glob(os.path.join(glob.escape(self.path(self.root)), "*-containers", "containers.json"))
            for f in files:
                for c in _read_json(f) or []:
                    if not isinstance(c, dict) or "id" not in c:
                        continue
                    try:
                        meta = json.loads(c.get("metadata") or "{}")
                    except ValueError:
                        meta = {}
                    self._storage[c["id"]] = {"names": c.get("names") or [], "image": meta.get("image-name")}
        return self._storage


def _freezer(procs: ProcTable, conmon: int, pid: int) -> Optional[bool]:
    """True when ``pid``'s cgroup is frozen (v1 freezer or v2 cgroup.freeze), None when unknown."""
    text = _small(f"{procs.proc}/{pid}/cgroup")
    if not text:
        return None
    v1 = v2 = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if "freezer" in parts[1].split(","):
            v1 = parts[2]
        elif parts[0] == "0" and parts[1] == "":
            v2 = parts[2]
    candidates = []
    if v1 is not None:
        candidates.append((f"/sys/fs/cgroup/freezer{v1}/freezer.state", ("FROZEN", "FREEZING")))
    if v2 is not None:
        candidates.append((f"/sys/fs/cgroup{v2}/cgroup.freeze", ("1",)))
    for path, frozen in candidates:
        for p in (path, procs.root_path(conmon, path)):
            value = _small(p)
            if value is not None:
                return value.strip() in frozen
    return None


def _init_pid(procs: ProcTable, conmon: Optional[int], pid: Any) -> Optional[int]:
    """The container's init: the recorded pid when it is alive under its conmon, else conmon's child."""
    if isinstance(pid, int) and pid > 0 and pid in procs.comms:
        if conmon is None or procs.ppid(pid) == conmon:
            return pid
    if conmon is None:
        return None
    kids = [k for k in procs.children(conmon) if procs.comm(k) not in ("runc", "crun", "podman", "conmon")]
    return kids[0] if kids else None
