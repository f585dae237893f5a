"""docker read from its data root: when the API does not answer, and when dockerd is gone.

``<data-root>/containers/ID/config.v2.json`` holds what ``docker inspect``
says (name, image, state, pid, networks); docker writes it atomically on
every change of state.  A pid from it is kept only while that process's
cgroup still names the container (pids are reused).
"""

from __future__ import annotations

import os
from typing import Any, Optional

from .base import Owned, ProcTable, flag_value, read_text
from .docker_engine import (DEFAULT_BRIDGE, DOCKER_NAMESPACE, RUNTIME, SHIM_COMM, _HEX64, _WITH_PROCESSES,
                            Daemon, _endpoint, _ns_inode, _nspid, _pid_is_container, _read_json, _same_ns,
                            in_root)


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
        try:
            pid = (doc.get("State") or {}).get("Pid")
            pids = []
            if disk_state(doc.get("State") or {}) in _WITH_PROCESSES and isinstance(pid, int) and pid > 0:
                pids = [p for p in daemon.outer_pids([pid]) if _pid_is_container(procs, p, cid)]
            out.append(_disk_record(doc, cid, pids, control, note, daemon.default_bridge, daemon.netns_inode))
        except (AttributeError, TypeError, ValueError, KeyError):  # one odd file: the others still count
            continue
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
            "network_mode": None,  # in hostconfig.json, not read on this path
            "netns_of": None,
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
    doc = _read_json(in_root(procs, shim, os.path.join(data_root, "containers", cid, "config.v2.json")))
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
