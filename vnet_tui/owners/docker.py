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
through ``/proc/PID/root/…`` unless it shares ours, with symlinks resolved
inside its root (``docker_engine.in_root``).  Rootless docker (under
RootlessKit) defaults to ``$XDG_RUNTIME_DIR/docker.sock``.

When the socket does not answer (a stopped or hung daemon: every socket
operation times out after 1 s, the whole conversation after 2 s, and a
daemon that timed out is not asked again for 30 s), the containers are
read from the daemon's data root instead
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

Files: this one (scan through the API, changes), ``docker_engine.py`` (the
daemon: flags, paths, pid namespace; shapes of networks and endpoints),
``docker_disk.py`` (the on-disk fallback and daemon-less containers).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Optional, Union
from urllib.parse import quote

from vnet_tui.core.errors import ChangeFailed, InvalidInput

from .base import Owned, ProcTable
from .docker_disk import _from_disk, disk_state, orphans
from .docker_engine import (DAEMON_COMM, DEFAULT_BRIDGE, RUNTIME, _HEX64, _WITH_PROCESSES, Daemon, _endpoint,
                            _name, _pid_is_container, _read_json, engine_networks)

if TYPE_CHECKING:  # http.client costs ~20 ms to import
    from .http_unix import UnixHTTP  # type only: http.client loads when a dockerd is found

__all__ = ["scan", "scan_daemon", "connect", "disconnect", "network_of_bridge", "Daemon", "disk_state",
           "orphans", "engine_networks"]

SCAN_TIMEOUT = 1.0  # each socket operation while scanning
SCAN_DEADLINE = 2.0  # one daemon's whole conversation while scanning
CHANGE_TIMEOUT = 30.0  # connect/disconnect: the engine makes links and firewall rules
MAC_PER_NETWORK_API = (1, 44)  # EndpointConfig.MacAddress is honoured from API 1.44 (Docker 25)


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
    from .http_unix import UnixHTTP  # deferred: http.client, only when asked

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
            mode = (c.get("HostConfig") or {}).get("NetworkMode") or None
            out.append(Owned(
                runtime=RUNTIME, kind="container", id=cid, name=_name(c.get("Names") or [], cid),
                state=state, image=c.get("Image") or None, pids=pids, control=control,
                details={
                    "source": "api",
                    # "host": the daemon's netns; "container:ID": that container's netns, not one
                    # of its own (its pid is then one more holder of ID's namespace)
                    "network_mode": mode,
                    "netns_of": mode[len("container:"):] if mode and mode.startswith("container:") else None,
                    "networks": [_endpoint(n, ep, by_id, daemon.default_bridge) for n, ep in settings.items()],
                    "engine_networks": nets,
                    "daemon_netns_inode": daemon.netns_inode,
                    **extra,
                },
            ))
        return out


def _inside(procs: ProcTable, daemon: Daemon, api: "UnixHTTP", cid: str) -> tuple[list[int], dict[str, Any]]:
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
        from .http_unix import HTTPError  # deferred: http.client, only when asked

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


def _api(control: dict[str, Any]) -> "UnixHTTP":
    path = control.get("socket")
    if not path:
        raise ChangeFailed("docker's API socket is not known (the daemon has no unix socket)",
                           rule="docker-unreachable")
    from .http_unix import UnixHTTP  # deferred: http.client, only when asked

    return UnixHTTP(path, timeout=CHANGE_TIMEOUT)


def _call(api: "UnixHTTP", method: str, url: str, body: Any = None) -> Any:
    from .http_unix import HTTPError  # deferred: http.client, only when asked

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


def _quote(part: str) -> str:
    return quote(part, safe="")


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
        q = _quote(network)
        _call(api, "POST", f"/networks/{q}/connect", {"Container": container_id, "EndpointConfig": endpoint})
        return _endpoint_after(api, container_id, network)


def _endpoint_after(api: "UnixHTTP", container_id: str, network: str) -> dict[str, Any]:
    """The container's endpoint on ``network`` (matched by name or id) after a change."""
    cid = _quote(container_id)
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
        q = _quote(network)
        _call(api, "POST", f"/networks/{q}/disconnect", {"Container": container_id, "Force": force})
