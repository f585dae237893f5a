"""docker: what it runs, in its own words, and its own way to join a container to a network.

``scan`` finds every ``dockerd`` in the process table and asks each one,
over its API socket (plain HTTP/1.1 over a unix socket, ``http_unix``):

* ``GET /containers/json?all=1`` — id, name, image, state and the
  container's networks (one request for all containers);
* ``GET /networks`` — the engine's networks and their bridges;
* the pid inside each container that has processes (running, paused,
  restarting) from its ``config.v2.json`` when that is readable and the
  pid's cgroup names the container, else ``GET /containers/ID/json``.
  Measured on dockerd 20.10, 50 containers (40 running), busy 2-core host:
  scan 10 ms that way, 25 ms with an inspect for each.

Where the daemon keeps its socket: its ``-H/--host unix://PATH`` flags
(or ``hosts`` in its ``--config-file``, default /etc/docker/daemon.json),
``fd://`` and none meaning ``/var/run/docker.sock``.  A daemon may run in
a mount namespace of its own, so the socket and its files are reached
through ``/proc/PID/root/…`` unless it shares ours.

When the socket does not answer (a stopped or hung daemon: every socket
operation times out after 1 s, the whole conversation after 2 s), the
containers are read from the daemon's data root instead
(``<data-root>/containers/ID/config.v2.json``, ``--data-root`` default
/var/lib/docker).  A pid from disk is kept only while that process's
cgroup still names the container (pids are reused).  A running container whose
dockerd is gone altogether (a crash, ``live-restore``) is still found through its
``containerd-shim-runc-v2 -namespace moby`` process and named from that disk.

A daemon in a pid namespace of its own (dockerd in an LXC container) reports
pids of that namespace; they are mapped to ours (``NSpid``).

Change paths: ``connect``/``disconnect`` (``POST /networks/ID/connect``
and ``…/disconnect``) — the engine creates the veth and keeps the
connection across restarts; ``network_of_bridge`` says which engine
network a host bridge belongs to.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.parse
from typing import Any, Optional, Union

from vnet_tui.core.errors import ChangeFailed, InvalidInput

from .base import Owned, ProcTable, flag_value, read_text
from .http_unix import HTTPError, UnixHTTP

RUNTIME = "docker"
DAEMON_COMM = "dockerd"
DEFAULT_SOCKET = "/var/run/docker.sock"
DEFAULT_DATA_ROOT = "/var/lib/docker"
DEFAULT_CONFIG = "/etc/docker/daemon.json"
DEFAULT_BRIDGE = "docker0"
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
SCAN_TIMEOUT = 1.0  # each socket operation while scanning
SCAN_DEADLINE = 2.0  # one daemon's whole conversation while scanning
CHANGE_TIMEOUT = 30.0  # connect/disconnect: the engine makes links and firewall rules
MAC_PER_NETWORK_API = (1, 44)  # EndpointConfig.MacAddress is honoured from API 1.44 (Docker 25)
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
        config = _read_json(procs.root_path(pid, config_path))
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
        return inside if self.shares_our_mounts else self._procs.root_path(self.pid, inside)

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


# ---------------------------------------------------------------- scanning


def scan(procs: ProcTable) -> list[Owned]:
    """Every container each running dockerd reports, with the process inside each one.

    Then the running containers no dockerd reported (their daemon is gone), from disk.
    """
    out: list[Owned] = []
    for pid in procs.with_comm(DAEMON_COMM):
        if procs.comm(procs.ppid(pid) or 0) == DAEMON_COMM:
            continue  # a helper it forked, not a daemon of its own
        try:
            daemon = Daemon(procs, pid)
        except Exception:  # a daemon that went away while we looked
            continue
        out.extend(scan_daemon(procs, daemon))
    out.extend(orphans(procs, {o.id for o in out}))
    return out


# daemons that did not answer in time: (pid, socket) -> (when to ask again, why); a hung
# daemon then costs the TUI's discovery one 1 s timeout per HUNG_RETRY, not one per scan
HUNG_RETRY = 30.0
_hung: dict[tuple[int, str], tuple[float, str]] = {}


def scan_daemon(procs: ProcTable, daemon: Daemon) -> list[Owned]:
    """One daemon's containers: from its API, else from its data root. Never raises."""
    why = "no unix socket among its -H flags"
    if daemon.socket is not None:
        key = (daemon.pid, daemon.socket)
        now = time.monotonic()
        hung = _hung.get(key)
        if hung is not None and now < hung[0]:
            why = f"{hung[1]}; not asked again for {hung[0] - now:.0f} s"
        else:
            try:
                found = _from_api(procs, daemon)
                _hung.pop(key, None)
                return found
            except Exception as e:  # refused, timed out, garbled: fall back to the disk
                why = f"{daemon.socket_in_daemon}: {type(e).__name__}: {e}"
                if isinstance(e, TimeoutError):
                    _hung[key] = (now + HUNG_RETRY, why)
    try:
        return _from_disk(procs, daemon, why)
    except Exception:
        return []


def _from_api(procs: ProcTable, daemon: Daemon) -> list[Owned]:
    assert daemon.socket is not None
    with UnixHTTP(daemon.socket, timeout=SCAN_TIMEOUT, deadline=SCAN_DEADLINE) as api:
        listed = api.json("GET", "/containers/json?all=1")
        api_version = api.headers.get("api-version")
        nets = engine_networks(api.json("GET", "/networks"), daemon.default_bridge)
        by_id = {n["id"]: n for n in nets}
        control = daemon.control(api_version)
        out: list[Owned] = []
        for c in listed or []:
            cid = c.get("Id") or ""
            state = c.get("State") or None
            pids: list[int] = []
            extra: dict[str, Any] = {}
            if state in _WITH_PROCESSES:
                pids, extra = _inside(procs, daemon, api, cid)
            settings = (c.get("NetworkSettings") or {}).get("Networks") or {}
            out.append(Owned(
                runtime=RUNTIME, kind="container", id=cid, name=_name(c.get("Names") or [], cid),
                state=state, image=c.get("Image") or None, pids=pids, control=control,
                details={
                    "source": "api",
                    "network_mode": (c.get("HostConfig") or {}).get("NetworkMode"),
                    "networks": [_endpoint(n, ep, by_id, daemon.default_bridge) for n, ep in settings.items()],
                    "engine_networks": nets,
                    "daemon_netns_inode": daemon.netns_inode,
                    **extra,
                },
            ))
        return out


def _inside(procs: ProcTable, daemon: Daemon, api: UnixHTTP, cid: str) -> tuple[list[int], dict[str, Any]]:
    """The container's process (our pid) and sandbox.

    From its ``config.v2.json`` when that is readable and its pid's cgroup names the
    container (~0.1 ms), else from ``GET /containers/ID/json`` (~0.5 ms on a busy host).
    """
    doc: dict[str, Any] = {}
    if _HEX64.fullmatch(cid):
        doc = _read_json(daemon.path(os.path.join(daemon.data_root, "containers", cid, "config.v2.json")))
    pid = (doc.get("State") or {}).get("Pid")
    via = "disk"
    pids = []
    if isinstance(pid, int) and pid > 0:
        pids = [p for p in daemon.outer_pids([pid]) if _pid_is_container(procs, p, cid)]
    if not pids:
        via = "api"
        try:
            doc = api.json("GET", f"/containers/{cid}/json")
        except HTTPError:  # removed since the list was made
            doc = {}
        pid = (doc.get("State") or {}).get("Pid")
        if isinstance(pid, int) and pid > 0:
            pids = daemon.outer_pids([pid])
    return pids, {
        "pid_from": via,
        "sandbox_key": (doc.get("NetworkSettings") or {}).get("SandboxKey") or None,
        "hostname": (doc.get("Config") or {}).get("Hostname") or None,
    }


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


# ---------------------------------------------------------------- on disk


def disk_state(st: dict[str, Any]) -> str:
    """docker's state word from a saved ``State`` (what ``docker ps`` would say)."""
    if st.get("Running"):
        if st.get("Paused"):
            return "paused"
        if st.get("Restarting"):
            return "restarting"
        return "running"
    if st.get("RemovalInProgress"):
        return "removing"
    if st.get("Dead"):
        return "dead"
    started = st.get("StartedAt") or ""
    if not started or started.startswith("0001-01-01"):
        return "created"
    return "exited"


def _pid_is_container(procs: ProcTable, pid: int, cid: str) -> bool:
    """The process is still that container's (its cgroup names the id): guards against pid reuse."""
    text = read_text(f"{procs.proc}/{pid}/cgroup", 1 << 16)
    return bool(text) and cid in text


def _from_disk(procs: ProcTable, daemon: Daemon, why: str) -> list[Owned]:
    root = daemon.path(os.path.join(daemon.data_root, "containers"))
    try:
        ids = sorted(e.name for e in os.scandir(root) if e.is_dir())
    except OSError:
        return []
    control = daemon.control(None)
    note = f"from {daemon.data_root} on disk: the API did not answer ({why})"
    out: list[Owned] = []
    for cid in ids:
        doc = _read_json(os.path.join(root, cid, "config.v2.json"))
        if not doc:
            continue
        pid = (doc.get("State") or {}).get("Pid")
        pids = []
        if disk_state(doc.get("State") or {}) in _WITH_PROCESSES and isinstance(pid, int) and pid > 0:
            pids = [p for p in daemon.outer_pids([pid]) if _pid_is_container(procs, p, cid)]
        out.append(_disk_record(doc, cid, pids, control, note, daemon.default_bridge, daemon.netns_inode))
    return out


def _disk_record(doc: dict[str, Any], cid: str, pids: list[int], control: dict[str, Any], note: str,
                 default_bridge: str, netns_inode: Optional[int]) -> Owned:
    """A container as its ``config.v2.json`` describes it."""
    ns = doc.get("NetworkSettings") or {}
    return Owned(
        runtime=RUNTIME, kind="container", id=doc.get("ID") or cid,
        name=(doc.get("Name") or "").lstrip("/") or cid[:12],
        state=disk_state(doc.get("State") or {}),
        image=(doc.get("Config") or {}).get("Image") or doc.get("Image") or None,
        pids=pids, control=control,
        details={
            "source": "disk",
            "note": note,
            "networks": [_endpoint(n, ep, {}, default_bridge) for n, ep in (ns.get("Networks") or {}).items()],
            "engine_networks": [],
            "daemon_netns_inode": netns_inode,
            "sandbox_key": ns.get("SandboxKey") or None,
            "hostname": (doc.get("Config") or {}).get("Hostname") or None,
        },
    )


# ---------------------------------------------------------------- no dockerd, containers still running


def orphans(procs: ProcTable, seen: set[str]) -> list[Owned]:
    """Docker containers whose dockerd is gone (crashed, stopped with live-restore, upgrading).

    Each still has its ``containerd-shim-runc-v2 -namespace moby -id ID``; its working
    directory is the container's bundle, whose ``config.json`` bind-mounts
    ``<data-root>/containers/ID/hostname``: that names the data root, and the container's
    ``config.v2.json`` there names the container.  ``seen``: ids a daemon already reported.
    """
    out: list[Owned] = []
    for shim in procs.with_comm(SHIM_COMM):
        argv = procs.argv(shim) or []
        if flag_value(argv, "-namespace", "--namespace") != DOCKER_NAMESPACE:
            continue
        cid = flag_value(argv, "-id", "--id") or ""
        if not _HEX64.fullmatch(cid) or cid in seen:
            continue
        try:
            rec = _orphan(procs, shim, cid)
        except Exception:  # a shim that went away while we looked
            continue
        if rec is not None:
            seen.add(cid)
            out.append(rec)
    return out


def _orphan(procs: ProcTable, shim: int, cid: str) -> Optional[Owned]:
    bundle = f"{procs.proc}/{shim}/cwd"
    spec = _read_json(f"{bundle}/config.json")
    src = next((m.get("source") for m in spec.get("mounts") or []
                if isinstance(m, dict) and m.get("destination") == "/etc/hostname"), None)
    if not isinstance(src, str) or os.path.basename(os.path.dirname(src)) != cid:
        return None
    data_root = os.path.dirname(os.path.dirname(os.path.dirname(src)))
    doc = _read_json(procs.root_path(shim, os.path.join(data_root, "containers", cid, "config.v2.json")))
    if not doc:
        return None
    try:
        init = int((read_text(f"{bundle}/init.pid", 64) or "0").strip())
    except ValueError:
        init = 0
    pids: list[int] = []
    if init > 0:
        if _same_ns(procs, shim, "pid"):
            pids = [init]
        else:  # the init is the shim's child (it is the subreaper): find ours by its NSpid
            level = len(_nspid(procs, shim)) - 1
            pids = [c for c in procs.children(shim) if level >= 1 and len(_nspid(procs, c)) > level
                    and _nspid(procs, c)[level] == init]
        pids = [p for p in pids if _pid_is_container(procs, p, cid)]
    control = {"socket": None, "socket_in_daemon": None, "daemon_pid": None, "data_root": data_root,
               "api_version": None, "pid_level": None}
    note = f"dockerd is not running: from {data_root} on disk (found by its containerd-shim {shim})"
    return _disk_record(doc, cid, pids, control, note, DEFAULT_BRIDGE, _ns_inode(procs, shim, "net"))


# ---------------------------------------------------------------- changes


def network_of_bridge(details_or_owned: Union[Owned, dict[str, Any]], bridge_ifname: str) -> Optional[str]:
    """The engine network whose bridge is ``bridge_ifname`` (in the daemon's namespace), or None."""
    details = details_or_owned.details if isinstance(details_or_owned, Owned) else details_or_owned
    for n in details.get("engine_networks") or []:
        if n.get("bridge") == bridge_ifname:
            return n.get("name")
    for n in details.get("networks") or []:
        if n.get("bridge") == bridge_ifname:
            return n.get("name")
    return None


def _api(control: dict[str, Any]) -> UnixHTTP:
    path = control.get("socket")
    if not path:
        raise ChangeFailed("docker's API socket is not known (the daemon has no unix socket)",
                           rule="docker-unreachable")
    return UnixHTTP(path, timeout=CHANGE_TIMEOUT)


def _call(api: UnixHTTP, method: str, url: str, body: Any = None) -> Any:
    try:
        return api.json(method, url, body)
    except HTTPError as e:
        if e.status < 500 or "is not connected" in e.message:  # 20.10 answers 500 for that
            raise InvalidInput(f"docker refused: {e.message}", rule="docker-refused") from e
        raise ChangeFailed(f"docker failed: {e.message}", rule="docker-failed") from e
    except (OSError, ValueError) as e:  # includes timeouts and http.client's errors
        raise ChangeFailed(f"docker did not answer on {api.path}: {e}", rule="docker-unreachable") from e
    except Exception as e:
        raise ChangeFailed(f"docker did not answer on {api.path}: {type(e).__name__}: {e}",
                           rule="docker-unreachable") from e


def _version_tuple(v: Optional[str]) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in (v or "").split("."))
    except ValueError:
        return ()


def connect(control: dict[str, Any], container_id: str, network: str, *,
            ipv4: Optional[str] = None, ipv6: Optional[str] = None, mac: Optional[str] = None,
            ) -> dict[str, Any]:
    """``docker network connect``: join the container to ``network`` (name or id).

    ``ipv4``/``ipv6`` are addresses without a prefix (the network's subnet
    decides it).  Returns the new endpoint as the engine reports it
    (name, id, bridge, mac, ipv4, ipv6).  Raises ``InvalidInput`` when the
    engine refuses (4xx: no such container/network, already connected,
    address outside the subnet…), ``ChangeFailed`` when it fails or does
    not answer.
    """
    endpoint: dict[str, Any] = {}
    ipam = {k: v.split("/")[0] for k, v in (("IPv4Address", ipv4), ("IPv6Address", ipv6)) if v}
    if ipam:
        endpoint["IPAMConfig"] = ipam
    with _api(control) as api:
        if mac:
            version = control.get("api_version")
            if version is None:
                _call(api, "GET", "/_ping")
                version = api.headers.get("api-version")
            if _version_tuple(version) < MAC_PER_NETWORK_API:
                raise InvalidInput(
                    f"docker's API {version or '?'} cannot choose the MAC of a network connection "
                    f"(API {'.'.join(map(str, MAC_PER_NETWORK_API))}, Docker 25, is needed); "
                    "leave the MAC to docker or add a raw veth instead", rule="docker-mac-unsupported")
            endpoint["MacAddress"] = mac
        q = urllib.parse.quote(network, safe="")
        _call(api, "POST", f"/networks/{q}/connect", {"Container": container_id, "EndpointConfig": endpoint})
        return _endpoint_after(api, container_id, network)


def _endpoint_after(api: UnixHTTP, container_id: str, network: str) -> dict[str, Any]:
    """The container's endpoint on ``network`` (matched by name or id) after a change."""
    cid = urllib.parse.quote(container_id, safe="")
    info = _call(api, "GET", f"/containers/{cid}/json") or {}
    nets = _call(api, "GET", "/networks") or []
    by_id = {n["id"]: n for n in engine_networks(nets)}
    for name, ep in ((info.get("NetworkSettings") or {}).get("Networks") or {}).items():
        nid = ep.get("NetworkID") or ""
        if network in (name, nid) or (len(network) >= 12 and nid.startswith(network)):
            return _endpoint(name, ep, by_id, DEFAULT_BRIDGE)
    raise ChangeFailed(f"docker accepted the connection but {container_id[:12]} is not on {network} "
                       "(removed again by someone else?)", rule="docker-failed")


def disconnect(control: dict[str, Any], container_id: str, network: str, *, force: bool = False) -> None:
    """``docker network disconnect``: the engine removes the container's endpoint (and its veth)."""
    with _api(control) as api:
        q = urllib.parse.quote(network, safe="")
        _call(api, "POST", f"/networks/{q}/disconnect", {"Container": container_id, "Force": force})

