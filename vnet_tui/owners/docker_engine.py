"""docker's daemon as we find it: where it listens and keeps its data, its pid namespace,
and the shapes of what it says about networks and endpoints (docker.py and docker_disk.py share them).

Just over 300 lines on purpose: one job, dockerd as both readers (the
Engine API's and the on-disk one) must see it alike — the daemon, what
its mount and pid namespaces hide, and its network/endpoint shapes.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from typing import Any, Optional

from .base import ProcTable, flag_value, read_text

RUNTIME = "docker"
DAEMON_COMM = "dockerd"
DEFAULT_SOCKET = "/var/run/docker.sock"
DEFAULT_DATA_ROOT = "/var/lib/docker"
DEFAULT_CONFIG = "/etc/docker/daemon.json"
DEFAULT_BRIDGE = "docker0"
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
_WITH_PROCESSES = ("running", "paused", "restarting")
SHIM_COMM = "containerd-shim"  # containerd-shim-runc-v2 as the kernel cuts it (15 bytes)
DOCKER_NAMESPACE = "moby"  # docker's namespace in containerd
_HEX64 = re.compile(r"[0-9a-f]{64}")


# ---------------------------------------------------------------- the daemon


class Daemon:
    """One dockerd process and where its socket and data are, as we can reach them."""

    def __init__(self, procs: ProcTable, pid: int) -> None:
        self.pid = pid
        argv = procs.argv(pid) or []
        defaults = _rootless_defaults(procs, pid) or {
            "socket": DEFAULT_SOCKET, "data_root": DEFAULT_DATA_ROOT, "config": DEFAULT_CONFIG}
        self.rootless = defaults["socket"] != DEFAULT_SOCKET
        config_path = flag_value(argv, "--config-file") or defaults["config"]
        config = _read_json(in_root(procs, pid, config_path))
        hosts = _hosts(argv) or [h for h in (config.get("hosts") or []) if isinstance(h, str)]
        self.socket_in_daemon = _unix_socket(hosts, defaults["socket"])
        self.data_root = (flag_value(argv, "--data-root", "-g", "--graph")
                          or config.get("data-root") or config.get("graph") or defaults["data_root"])
        self.default_bridge = flag_value(argv, "--bridge", "-b") or config.get("bridge") or DEFAULT_BRIDGE
        self.shares_our_mounts = _same_ns(procs, pid, "mnt")
        self.netns_inode = _ns_inode(procs, pid, "net")
        # a daemon in a pid namespace of its own (dockerd in an LXC container, docker-in-docker)
        # reports pids of that namespace: ``level`` is its depth below ours, 0 when shared
        # (None: we cannot tell, so its pids are not used)
        self.pid_level: Optional[int] = 0
        if not _same_ns(procs, pid, "pid"):
            levels = len(_nspid(procs, pid))
            self.pid_level = levels - 1 if levels >= 2 else None
        self._procs = procs
        self._outer: Optional[dict[int, int]] = None

    def outer_pids(self, inner: list[int]) -> list[int]:
        """The daemon's pids as our pid namespace numbers them (empty for one we cannot see)."""
        if self.pid_level == 0:
            return inner
        if self.pid_level is None:
            return []
        if self._outer is None:
            self._outer = self._map_pid_namespace(self.pid_level)
        return [self._outer[i] for i in inner if i in self._outer]

    def _map_pid_namespace(self, level: int) -> dict[int, int]:
        """inner pid -> our pid, for the processes under the daemon's pid namespace's init.

        Only that init's descendants are read (a sibling namespace, e.g. another LXC
        container running its own dockerd, numbers its processes the same way).
        """
        procs = self._procs
        init, seen = self.pid, 0
        while seen < 64:  # walk up to the process that is pid 1 of the daemon's namespace
            ns = _nspid(procs, init)
            if len(ns) > level and ns[level] == 1:
                break
            parent = procs.ppid(init)
            if not parent:
                return {}
            init, seen = parent, seen + 1
        else:
            return {}
        out: dict[int, int] = {}
        todo = [init]
        while todo:
            p = todo.pop()
            ns = _nspid(procs, p)
            if len(ns) > level:
                out.setdefault(ns[level], p)
            todo.extend(procs.children(p))
        return out

    def path(self, inside: str) -> str:
        """A path as the daemon sees it, as we can open it."""
        return inside if self.shares_our_mounts else in_root(self._procs, self.pid, inside)

    @property
    def socket(self) -> Optional[str]:
        return None if self.socket_in_daemon is None else self.path(self.socket_in_daemon)

    def control(self, api_version: Optional[str]) -> dict[str, Any]:
        return {
            "socket": self.socket,
            "socket_in_daemon": self.socket_in_daemon,
            "daemon_pid": self.pid,
            "data_root": self.data_root,
            "api_version": api_version,
            "pid_level": self.pid_level,
        }


def _hosts(argv: list[str]) -> list[str]:
    """Every ``-H/--host`` value, in order (``-H X``, ``-H=X``, ``-HX``, ``--host X``, ``--host=X``)."""
    out: list[str] = []
    for i, a in enumerate(argv):
        if a in ("-H", "--host") and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif a.startswith("--host="):
            out.append(a[7:])
        elif a.startswith("-H=") and len(a) > 3:
            out.append(a[3:])
        elif a.startswith("-H") and len(a) > 2 and not a.startswith("-H="):
            out.append(a[2:])
    return out


def _unix_socket(hosts: list[str], default: str = DEFAULT_SOCKET) -> Optional[str]:
    """The first unix socket among dockerd's hosts; none given means the default one."""
    if not hosts:
        return default
    for h in hosts:
        if h.startswith("unix://"):
            return h[len("unix://"):] or default
        if h.startswith("fd://"):  # systemd socket activation: docker.socket listens here
            return default
        if h.startswith("/"):
            return h
    return None  # tcp:// or ssh:// only: not a socket we can reach here


def _rootless_defaults(procs: ProcTable, pid: int) -> Optional[dict[str, str]]:
    """Rootless docker's defaults (under RootlessKit: ``$ROOTLESSKIT_STATE_DIR`` is set), else None.

    Socket ``$XDG_RUNTIME_DIR/docker.sock``, data root ``$XDG_DATA_HOME/docker``
    (``~/.local/share/docker``), config ``$XDG_CONFIG_HOME/docker/daemon.json``.
    Only a daemon not run by root is asked (one read of its environment).
    """
    try:
        if os.stat(f"{procs.proc}/{pid}").st_uid == 0:
            return None
        with open(f"{procs.proc}/{pid}/environ", "rb") as f:
            raw = f.read(1 << 20)
    except OSError:
        return None
    env = dict(kv.split("=", 1) for kv in raw.decode(errors="replace").split("\0") if "=" in kv)
    if not env.get("ROOTLESSKIT_STATE_DIR") or not env.get("XDG_RUNTIME_DIR"):
        return None
    home = env.get("HOME", "/")
    data = env.get("XDG_DATA_HOME") or os.path.join(home, ".local/share")
    conf = env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    return {"socket": os.path.join(env["XDG_RUNTIME_DIR"], "docker.sock"),
            "data_root": os.path.join(data, "docker"), "config": os.path.join(conf, "docker/daemon.json")}


def in_root(procs: ProcTable, pid: int, path: str, max_links: int = 40) -> str:
    """``path`` as process ``pid`` sees it, as a path we can open: /proc/PID/root/… with every
    symlink resolved inside that process's root.

    The kernel resolves an absolute symlink met under /proc/PID/root against *our* root: on
    Debian /var/run is ``-> /run``, so /proc/PID/root/var/run/docker.sock would be the host's
    socket, not the one of a dockerd in an LXC container.  A missing component ends the walk
    (the rest is kept as written).
    """
    root = procs.root_path(pid, "/").rstrip("/")
    todo = [p for p in path.split("/") if p and p != "."]
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        here = "/".join([root, *done, part])
        try:
            st = os.lstat(here)
        except OSError:
            done.append(part)
            done.extend(todo)
            break
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > max_links:
                raise OSError(errno.ELOOP, "too many symlinks", path)
            target = os.readlink(here)
            if target.startswith("/"):
                done = []
            todo = [p for p in target.split("/") if p and p != "."] + todo
            continue
        done.append(part)
    return "/".join([root, *done])


def _nspid(procs: ProcTable, pid: int) -> list[int]:
    """The process's pid in each pid namespace from ours down (``NSpid:`` of its status)."""
    text = read_text(f"{procs.proc}/{pid}/status", 1 << 14) or ""
    for line in text.splitlines():
        if line.startswith("NSpid:"):
            try:
                return [int(x) for x in line.split()[1:]]
            except ValueError:
                return []
    return []


def _read_json(path: str) -> dict[str, Any]:
    text = read_text(path)
    if not text:
        return {}
    try:
        doc = json.loads(text)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _ns_inode(procs: ProcTable, pid: int, kind: str) -> Optional[int]:
    try:
        return os.stat(f"{procs.proc}/{pid}/ns/{kind}").st_ino
    except OSError:
        return None


def _same_ns(procs: ProcTable, pid: int, kind: str) -> bool:
    try:
        return os.stat(f"/proc/self/ns/{kind}").st_ino == os.stat(f"{procs.proc}/{pid}/ns/{kind}").st_ino
    except OSError:
        return False


def _name(names: list[str], cid: str) -> str:
    """docker ps's name: the one without a link path (``/web1``, not ``/app/db``)."""
    plain = [n.lstrip("/") for n in names if "/" not in n.lstrip("/")]
    if plain:
        return plain[0]
    return names[0].lstrip("/") if names else cid[:12]


def engine_networks(listed: Any, default_bridge: str = DEFAULT_BRIDGE) -> list[dict[str, Any]]:
    """The engine's networks (``GET /networks``): name, id, driver, bridge ifname, subnets."""
    out = []
    for n in listed or []:
        opts = n.get("Options") or {}
        driver = n.get("Driver")
        subnets = [c.get("Subnet") for c in ((n.get("IPAM") or {}).get("Config") or []) if c.get("Subnet")]
        out.append({
            "name": n.get("Name"),
            "id": n.get("Id"),
            "driver": driver,
            "bridge": _bridge(n.get("Name"), n.get("Id") or "", driver, opts, default_bridge),
            "subnets": subnets,
        })
    return out


def _bridge(name: Optional[str], nid: str, driver: Optional[str], opts: dict[str, Any],
            default_bridge: str) -> Optional[str]:
    if driver != "bridge":
        return None
    if opts.get(BRIDGE_NAME_OPTION):
        return str(opts[BRIDGE_NAME_OPTION])
    if name == "bridge":
        return default_bridge
    return f"br-{nid[:12]}"


def _endpoint(name: str, ep: dict[str, Any], by_id: dict[str, dict[str, Any]], default_bridge: str,
              ) -> dict[str, Any]:
    nid = ep.get("NetworkID") or ""
    net = by_id.get(nid)
    if net is not None:
        bridge = net["bridge"]
    else:  # from disk, or a network the list did not have: docker's own naming rule
        bridge = (default_bridge if name == "bridge" else None if name in ("host", "none") or not nid
                  else f"br-{nid[:12]}")
    ipv4 = f"{ep['IPAddress']}/{ep.get('IPPrefixLen', 0)}" if ep.get("IPAddress") else None
    ipv6 = (f"{ep['GlobalIPv6Address']}/{ep.get('GlobalIPv6PrefixLen', 0)}"
            if ep.get("GlobalIPv6Address") else None)
    return {
        "name": name,
        "id": nid or None,
        "bridge": bridge,
        "endpoint_id": ep.get("EndpointID") or None,
        "mac": (ep.get("MacAddress") or "").lower() or None,
        "ipv4": ipv4,
        "ipv6": ipv6,
        "gateway": ep.get("Gateway") or None,
    }


def _pid_is_container(procs: ProcTable, pid: int, cid: str) -> bool:
    """The process is still that container's (its cgroup names the id): guards against pid reuse."""
    text = read_text(f"{procs.proc}/{pid}/cgroup", 1 << 16)
    return bool(text) and cid in text


