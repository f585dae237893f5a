"""podman (rootful): what it runs, in its own words, and its own way to connect a network.

podman has no daemon.  Each running container has a ``conmon`` whose
command line names the container (``-c ID``, ``-n NAME``, ``-b BUNDLE``,
``-p PIDFILE``) and carries podman's exit command, whose arguments are
podman's global flags as the container was started (``--root``,
``--runroot``, ``--tmpdir``, ``--network-config-dir``, ``--runtime``,
``--cgroup-manager``, ``--storage-driver``, …).  From them:

- podman's own database, ``<root>/libpod/bolt_state.db`` (bbolt, read
  without a lock by ``boltdb.py``, ~1 ms): every container with its name,
  image, state (podman's enum: created, running, paused, exited…), init
  pid, conmon pid, networks and the MAC netavark gave it on each.  It
  lists stopped containers too (they have no network namespace and no
  pids).  A database that cannot be read (podman ≥ 4.8 may use SQLite)
  falls back to conmon's own facts and containers/storage's
  ``<driver>-containers/containers.json`` for the image.
- the network definitions, ``<network-config-dir>/*.json`` (default
  /etc/containers/networks) plus podman's built-in ``podman`` network on
  bridge ``podman0``.
- paused: the database's word, checked against the cgroup freezer
  (cgroup v1 ``freezer.state`` FROZEN; v2 ``cgroup.freeze``) — runc pauses
  through the freezer, so a container frozen behind podman's back shows
  as paused too.

Every path is read as conmon sees it (``/proc/CONMON/root/…``): podman may
have run in a private mount namespace.

Changes: ``podman <the same global flags> network connect|disconnect``,
run in conmon's network and mount namespaces (``nsenter -t CONMON -n -m``
when they are not ours) — netavark makes the bridge side in the
namespace podman runs in, and the container's netns bind mount
(/run/netns/netns-…) is only visible in podman's mount namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any, Optional, Union

from vnet_tui.core.errors import ChangeFailed

from .base import Owned, ProcTable, flag_value
from .boltdb import Bolt, BoltError
from .podman_host import (DEFAULT_ROOT, RUNTIME, TIMEOUT, Conmon, Instance, _freezer, _init_pid, _ns_inode,
                          _read_json, _small, parse_conmon)

__all__ = ["scan", "network_of_bridge", "connect", "disconnect", "Conmon", "Instance", "parse_conmon"]

# libpod/define/containerstate.go: ContainerState and its String()
STATES = {0: "unknown", 1: "created", 2: "created", 3: "running", 4: "stopped", 5: "paused",
          6: "exited", 7: "removing", 8: "stopping"}


def _attached(db_nets: dict[bytes, bytes], status: dict[str, Any], by_name: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for raw_name, raw_opts in sorted(db_nets.items()):
        name = raw_name.decode(errors="replace")
        try:
            opts = json.loads(raw_opts or b"{}")
        except ValueError:
            opts = {}
        ifname = opts.get("interface_name")
        ifaces = ((status.get(name) or {}).get("interfaces") or {})
        face = ifaces.get(ifname) or (next(iter(ifaces.values())) if len(ifaces) == 1 else {})
        out.append({"name": name, "bridge": (by_name.get(name) or {}).get("bridge"), "ifname": ifname,
                    "mac": (face or {}).get("mac_address"),
                    "ips": [s.get("ipnet") for s in (face or {}).get("subnets") or [] if isinstance(s, dict)]})
    return out


def _from_db(inst: Instance, nets: list[dict[str, Any]]) -> Optional[list[Owned]]:
    """Every container in podman's database; None when it cannot be read (twice: a commit may tear a read)."""
    for _ in range(2):
        found = _read_db(inst, nets)
        if found is not None:
            return found
    return None


def _read_db(inst: Instance, nets: list[dict[str, Any]]) -> Optional[list[Owned]]:
    try:
        db = Bolt.open(inst.path(f"{inst.root}/libpod/bolt_state.db"))
        ctrs = db.sub(db.root, b"ctr")
        if ctrs is None:
            return []
        by_name = {n["name"]: n for n in nets}
        out = []
        for raw_id, node in db.buckets(ctrs):
            vals = db.values(node)
            cfg = json.loads(vals.get(b"config") or b"{}")
            st = json.loads(vals.get(b"state") or b"{}")
            nets_node = db.sub(node, b"networks")
            db_nets = db.values(nets_node) if nets_node is not None else {}
            cid = raw_id.decode()
            mode, joins = _network_mode(cfg)
            out.append(_record(inst, cid, cfg.get("name") or cid[:12], cfg.get("rootfsImageName") or None,
                               STATES.get(st.get("state"), "unknown"), st.get("pid"), st.get("conmonPid"),
                               _attached(db_nets, st.get("networkStatus") or {}, by_name), nets,
                               {"netns_path": (vals.get(b"netns") or b"").decode() or None,
                                "network_mode": mode, "netns_of": joins, "source": "bolt_state.db"}))
        return out
    except (OSError, BoltError, ValueError, KeyError, TypeError, AttributeError, IndexError, UnicodeDecodeError):
        return None


def _network_mode(cfg: dict[str, Any]) -> tuple[str, Optional[str]]:
    """podman's network mode for a container, and the container whose netns it joins (if any).

    bridge (or another podman-made netns: ``createNetNS``), ``container`` (``netNsCtr``: another
    container's, a pod's infra), ``none`` (a netns of its own that runc made), ``host`` (no netns).
    """
    if cfg.get("netNsCtr"):
        return "container", cfg["netNsCtr"]
    if cfg.get("createNetNS"):
        return cfg.get("networkMode") or "bridge", None
    spaces = ((cfg.get("spec") or {}).get("linux") or {}).get("namespaces") or []
    net = [n for n in spaces if isinstance(n, dict) and n.get("type") == "network"]
    if not net:
        return "host", None
    return ("none", None) if not net[0].get("path") else ("ns:" + net[0]["path"], None)


# modes whose container does not hold a network namespace of its own: its init is not "inside" one
_NOT_OWN_NETNS = ("host", "container")


def _record(inst: Instance, cid: str, name: str, image: Optional[str], state: str, pid: Any,
            conmon: Any, networks: list[dict[str, Any]], engine_nets: list[dict[str, Any]],
            extra: dict[str, Any]) -> Owned:
    procs = inst.procs
    mine = inst.conmons.get(cid)
    live_conmon = mine.pid if mine is not None else None
    if live_conmon is None and isinstance(conmon, int) and procs.comm(conmon) == "conmon":
        live_conmon = conmon
    init = _init_pid(procs, live_conmon, pid) if live_conmon is not None else None
    if state in ("running", "paused", "stopping"):
        if init is None:
            state = "exited"  # conmon or the container died; podman has not cleaned up yet
        else:
            frozen = _freezer(procs, live_conmon, init)  # type: ignore[arg-type]
            if frozen is True:
                state = "paused"
            elif frozen is False and state == "paused":
                state = "running"
    # a container on the host's network, or in another container's netns (a pod member), must not
    # name that namespace: its process is kept in details, not in pids
    own = extra.get("network_mode") not in _NOT_OWN_NETNS
    return Owned(runtime=RUNTIME, kind="container", id=cid, name=name, state=state, image=image,
                 pids=[init] if init is not None and own else [], control=inst.control(live_conmon),
                 details={"networks": networks, "engine_networks": engine_nets, "conmon_pid": live_conmon,
                          "init_pid": init, "root": inst.root, **extra})


def _from_conmons(inst: Instance, nets: list[dict[str, Any]]) -> list[Owned]:
    """Without the database: what conmon and containers/storage say (running/paused ones only)."""
    out = []
    for cid, c in inst.conmons.items():
        rec = inst.storage().get(cid, {})
        name = c.name or (rec.get("names") or [cid[:12]])[0]
        pid: Optional[int] = None
        if c.pidfile:
            text = _small(inst.path(c.pidfile))
            pid = int(text) if text and text.strip().isdigit() else None
        spec = _read_json(inst.path(os.path.join(c.bundle, "config.json"))) if c.bundle else None
        mode = _network_mode({"spec": spec})[0] if isinstance(spec, dict) else None
        out.append(_record(inst, cid, name, rec.get("image"), "running", pid, c.pid, [], nets,
                           {"source": "conmon", "bundle": c.bundle, "network_mode": mode}))
    return out


def scan(procs: ProcTable) -> list[Owned]:
    """Every container each running podman (one per --root) reports, with the process inside each one.

    Containers of a podman with no running container (no conmon) are not
    seen: nothing of theirs is on the network.
    """
    try:
        conmons = procs.with_comm("conmon")
        if not conmons:
            return []
        instances: dict[tuple[Optional[int], str], Instance] = {}
        for cpid in conmons:
            argv = procs.argv(cpid)
            c = parse_conmon(cpid, argv) if argv else None
            if c is None:
                continue
            root = flag_value(c.command[1:], "--root") or DEFAULT_ROOT
            key = (_ns_inode(cpid, "mnt"), root)
            inst = instances.get(key)
            if inst is None:
                inst = instances[key] = Instance(procs, c)
            inst.conmons[c.cid] = c
        out: list[Owned] = []
        for inst in instances.values():
            nets = inst.engine_networks()
            found = _from_db(inst, nets)
            out.extend(found if found is not None else _from_conmons(inst, nets))
        return out
    except Exception:  # an odd host must never stop discovery
        return []


def network_of_bridge(details_or_owned: Union[Owned, dict[str, Any]], bridge_ifname: str) -> Optional[str]:
    """The podman network whose bridge is ``bridge_ifname`` (in podman's namespace), or None."""
    details = details_or_owned.details if isinstance(details_or_owned, Owned) else details_or_owned
    for n in list(details.get("engine_networks") or []) + list(details.get("networks") or []):
        if isinstance(n, dict) and n.get("bridge") == bridge_ifname:
            return n.get("name")
    return None


# ---------------------------------------------------------------- changes


def _enter(control: dict[str, Any]) -> list[str]:
    """The nsenter prefix into podman's network and mount namespaces (empty when they are ours)."""
    pid = control.get("context_pid")
    if not isinstance(pid, int):
        raise ChangeFailed("podman's context (its conmon) is not known: rescan", rule="podman-context")
    if control.get("uid") not in (0, None):
        raise ChangeFailed(f"this podman is rootless (uid {control['uid']}): vnet-tui changes only rootful "
                           "podman's networks; ask its user to run podman network connect", rule="podman-rootless")
    prefix: list[str] = []
    for kind, flag in (("net", "-n"), ("mnt", "-m")):
        want = control.get(f"{kind}ns_inode")
        now = _ns_inode(pid, kind)
        if now is None or want is None or now != want:
            raise ChangeFailed(f"podman's context is gone (conmon {pid} exited or was replaced, "
                               "e.g. its container restarted): rescan and try again", rule="podman-context")
        if now != _ns_inode(os.getpid(), kind):
            prefix.append(flag)
    return ["nsenter", "-t", str(pid), *prefix] if prefix else []


def _run(control: dict[str, Any], args: list[str]) -> str:
    argv = [*_enter(control), *control["argv"], *args]
    timeout = float(control.get("timeout") or TIMEOUT)
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ChangeFailed(f"podman {' '.join(args)} did not answer in {timeout:g} s", rule="podman-failed") from None
    except OSError as e:
        raise ChangeFailed(f"podman could not be run: {e}", rule="podman-failed") from None
    if r.returncode != 0:
        msg = (r.stderr or r.stdout).strip().removeprefix("Error: ") or f"exit status {r.returncode}"
        raise ChangeFailed(f"podman {' '.join(args)}: {msg}", rule="podman-failed")
    return r.stdout


def connect(control: dict[str, Any], container_id: str, network: str, ipv4: Optional[str] = None,
            ipv6: Optional[str] = None, mac: Optional[str] = None) -> None:
    """``podman network connect [--ip …] [--ip6 …] [--mac-address …] NETWORK ID``; ChangeFailed with podman's words."""
    args = ["network", "connect"]
    for flag, value in (("--ip", ipv4), ("--ip6", ipv6), ("--mac-address", mac)):
        if value:
            args += [flag, value]
    _run(control, [*args, network, container_id])


def disconnect(control: dict[str, Any], container_id: str, network: str) -> None:
    """``podman network disconnect NETWORK ID``; ChangeFailed with podman's words."""
    _run(control, ["network", "disconnect", network, container_id])
