"""Where labs are recorded and how they are found: state folders, namespaces, processes.

A lab's files live in ``<state>/labs/NAME/`` (``$VNET_TUI_STATE`` or
/var/lib/vnet-tui): ``lab.json`` (the spec, every name, pid and path),
the VMs' QMP sockets and logs.  A lab is also found without its files —
by its namespaces ``/run/netns/vl-NAME-*`` and by processes whose title
starts with ``vl-NAME-`` or that run inside one of its namespaces — so a
half-made lab can still be taken down.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from vnet_tui.net.netns import NETNS_RUN_DIR

from . import kernel
from .info import LabSummary
from .names import lab_prefix

STATE_ENV = "VNET_TUI_STATE"
DEFAULT_STATE = "/var/lib/vnet-tui"
LAB_FILE = "lab.json"
_NS_RE = re.compile(r"^vl-([a-z0-9]{1,8})-(host|ct\d+)$")


def state_root() -> str:
    return os.environ.get(STATE_ENV) or DEFAULT_STATE


def labs_dir() -> str:
    return os.path.join(state_root(), "labs")


def lab_dir(name: str) -> str:
    return os.path.join(labs_dir(), name)


def read_state(name: str) -> Optional[dict[str, Any]]:
    """The lab's lab.json, or None when there is none (or it is unreadable)."""
    try:
        with open(os.path.join(lab_dir(name), LAB_FILE)) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None  # missing, unreadable (not ours to read), damaged
    return data if isinstance(data, dict) else None


def new_instance_id() -> str:
    """A fresh random lab instance id (``lab up`` records one; a rebuilt lab gets another)."""
    return secrets.token_hex(8)


# lab.json's path → (its inode, mtime and size when read, the instance id in it)
_INSTANCES: dict[str, tuple[tuple[int, int, int], Optional[str]]] = {}


def instance_id(name: str) -> Optional[str]:
    """The instance id of lab ``name`` as it exists now, or None (no lab, or no readable record).

    ``lab up`` writes a random id into lab.json before the first namespace
    is made; the same name built again gets a new one, so a journal entry
    that recorded it can tell this lab from an earlier one of the same name.

    Every change asks it twice (the journal records the server), and lab.json
    lists every container: parsed each time, 5 ms of each change at 1,000
    containers.  The id read is kept while the file is the same one
    (``write_state`` replaces it: another inode), so it is parsed once.
    """
    path = os.path.join(lab_dir(name), LAB_FILE)
    try:
        st = os.stat(path)
    except OSError:
        return None
    seen = (st.st_ino, st.st_mtime_ns, st.st_size)
    kept = _INSTANCES.get(path)
    if kept is not None and kept[0] == seen:
        return kept[1]
    data = read_state(name)
    value = data.get("instance") if data else None
    value = value if isinstance(value, str) and value else None
    _INSTANCES[path] = (seen, value)
    return value


def write_state(name: str, data: dict[str, Any]) -> None:
    """Replace lab.json atomically."""
    path = os.path.join(lab_dir(name), LAB_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def lab_namespaces(name: str) -> list[str]:
    """Names of lab ``name``'s namespaces present in /run/netns."""
    prefix = lab_prefix(name)
    try:
        entries = os.listdir(NETNS_RUN_DIR)
    except FileNotFoundError:
        return []
    return sorted(e for e in entries if e.startswith(prefix) and _NS_RE.match(e))


def all_lab_namespaces() -> dict[str, list[str]]:
    """Every lab's namespaces in /run/netns, by lab name."""
    out: dict[str, list[str]] = {}
    try:
        entries = os.listdir(NETNS_RUN_DIR)
    except FileNotFoundError:
        return out
    for e in sorted(entries):
        m = _NS_RE.match(e)
        if m:
            out.setdefault(m.group(1), []).append(e)
    return out


def state_names() -> list[str]:
    try:
        return sorted(e for e in os.listdir(labs_dir()) if os.path.isdir(os.path.join(labs_dir(), e)))
    except FileNotFoundError:
        return []


@dataclass(frozen=True)
class Proc:
    """A process that belongs to a lab, and why we think so."""

    pid: int
    start: int
    argv: tuple[str, ...]

    @property
    def is_qemu(self) -> bool:
        return bool(self.argv) and "qemu-system" in os.path.basename(self.argv[0])


def _read_proc(pid: int) -> Optional[tuple[int, tuple[str, ...]]]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    argv = tuple(a.decode("utf-8", "surrogateescape") for a in raw.split(b"\0") if a)
    return int(fields[19]), argv


def iter_pids() -> Iterator[int]:
    for e in os.scandir("/proc"):
        if e.name.isdigit():
            yield int(e.name)


def lab_processes(name: str, ns_inodes: "set[int] | None" = None) -> list[Proc]:
    """Live processes of lab ``name``.

    A process is the lab's when its title or command line names the lab
    (``vl-NAME-…``: keeper and holders are titled so; QEMU's QMP socket is
    ``…/vl-NAME-vm201.qmp``) or when it runs in one of ``ns_inodes``.
    """
    marker = lab_prefix(name)
    me = os.getpid()
    found = []
    for pid in iter_pids():
        if pid == me:
            continue
        mine = False
        if ns_inodes:
            try:
                mine = os.stat(f"/proc/{pid}/ns/net").st_ino in ns_inodes
            except OSError:
                continue
        info = _read_proc(pid)
        if info is None:
            continue
        start, argv = info
        if not mine and argv:
            mine = argv[0].startswith(marker) or (
                "qemu-system" in os.path.basename(argv[0]) and any(marker in a for a in argv[1:]))
        if mine:
            found.append(Proc(pid, start, argv))
    return found


def namespace_inodes(names: list[str]) -> set[int]:
    out = set()
    for n in names:
        try:
            out.add(os.stat(os.path.join(NETNS_RUN_DIR, n)).st_ino)
        except OSError:
            pass
    return out


def _readable(name: str) -> bool:
    """Can this user read the lab's record (an unprivileged user cannot: its folder is root's, 0700)?"""
    return os.access(os.path.join(lab_dir(name), LAB_FILE), os.R_OK) or not os.path.exists(lab_dir(name)) \
        or os.access(lab_dir(name), os.R_OK | os.X_OK)


def list_labs() -> list[LabSummary]:
    """Every lab found: by its state folder or by its namespaces."""
    by_ns = all_lab_namespaces()
    with_state = set(state_names())
    out = []
    for name in sorted(with_state | set(by_ns)):
        state = read_state(name) or {}
        nss = by_ns.get(name, [])
        host = f"vl-{name}-host"
        cts = sum(1 for n in nss if n != host)
        vms = sum(1 for v in state.get("vms") or []
                  if isinstance(v.get("pid"), int) and kernel.alive(v["pid"], v.get("start")))
        status = state.get("status") or ("not readable" if name in with_state and not _readable(name)
                                          else "incomplete")
        keeper = state.get("keeper_pid")
        if status == "building" and not (isinstance(keeper, int) and kernel.alive(keeper, state.get("keeper_start"))):
            status = "incomplete"
        if status == "up" and (host not in nss or cts != len(state.get("containers") or [])
                               or vms != len(state.get("vms") or [])):
            status = "incomplete"
        seed = state.get("seed")
        out.append(LabSummary(name=name, status=status, containers=cts, vms=vms, host_netns=host,
                              seed=seed if isinstance(seed, int) else None,
                              state_dir=lab_dir(name) if name in with_state else None,
                              instance=state.get("instance") if isinstance(state.get("instance"), str) else None))
    return out
