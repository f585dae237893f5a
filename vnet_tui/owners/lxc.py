"""LXC (and Incus, LXD, Proxmox, which run containers through liblxc): names, states, networks.

Every running LXC container has a monitor process.  Started with
``lxc-start -d`` (or by Incus/LXD) the monitor retitles itself
``[lxc monitor] LXCPATH NAME``; started in the foreground
(``lxc-start -F -n 101``, as Proxmox's ``pve-container@101`` does) it
is ``lxc-start`` with its own command line.  Either way the container's
init is the monitor's child, in a PID namespace of its own.

* name: the container's name (Proxmox's CTID ``101`` is an ordinary name);
  id: ``LXCPATH/NAME``, the container's directory, unique on the server
  (``LXCPATH/NAME:INITPID`` if nested LXC shows the same one twice).
* state: from the kernel's freezer, as ``lxc-info`` reports it, in its
  words lowercased: ``running``, ``frozen`` (``lxc-freeze``; other
  runtimes call it "paused"), ``freezing``.
* details: the config's network entries (``lxc.net.N.type/link/hwaddr/
  name/veth.pair/flags``), read through the monitor's root (its mount
  namespace), the manager (lxc, incus, lxd, proxmox) and the template.
* control: ``lxcpath`` and ``name`` for ``lxc-info``/``lxc-attach``, the
  manager (``incus``/``lxd``/``proxmox`` containers are changed through
  their manager's tool, not lxc-*), and the monitor's pid: LXC's command socket is an abstract unix socket, so
  those tools must run in the monitor's network namespace
  (``nsenter -t MONITOR -n lxc-info -P LXCPATH -n NAME``).

No runtime is asked over a socket: a scan reads /proc and a few files.
"""

from __future__ import annotations

import os
import re
from typing import Optional

from .base import Owned, ProcTable, flag_value, read_text

TITLE = "[lxc monitor] "
# processes that can be an LXC monitor: lxc-start (-d retitles it), Incus, LXD, lxc-execute
MONITOR_COMMS = ("lxc-start", "lxc-execute", "incusd", "lxd")
DEFAULT_LXCPATH = "/var/lib/lxc"
NET_KEY = re.compile(r"lxc\.net(?:work)?\.(\d+)\.([a-z0-9_.]+)$")
NET_FIELDS = ("type", "link", "hwaddr", "name", "veth.pair", "flags", "mtu", "ipv4.address", "ipv6.address")


def scan(procs: ProcTable) -> list[Owned]:
    """Every running LXC container, by its monitor process."""
    found: list[Owned] = []
    for mon in procs.with_comm(*MONITOR_COMMS):
        where = monitor_of(procs, mon)
        if where is None:
            continue
        lxcpath, name, config = where
        init = payload_init(procs, mon)
        if init is None:  # starting or stopping: nothing inside to match yet
            continue
        found.append(record(procs, mon, init, lxcpath, name, config))
    ids = [r.id for r in found]
    for r in found:  # the same LXCPATH/NAME twice: nested LXC (the same path inside a container)
        if ids.count(r.id) > 1:
            r.id = f"{r.id}:{r.pids[0]}"
    return found


def monitor_of(procs: ProcTable, pid: int) -> Optional[tuple[str, str, Optional[str]]]:
    """(lxcpath, name, config path or None) if ``pid`` is an LXC monitor."""
    argv = procs.argv(pid)
    if not argv:
        return None
    if argv[0].startswith(TITLE):
        # one string "[lxc monitor] LXCPATH NAME"; names have no spaces, paths might
        lxcpath, _, name = " ".join(argv)[len(TITLE):].rstrip().rpartition(" ")
        return (lxcpath, name, None) if lxcpath and name else None
    prog = os.path.basename(argv[0])
    if prog in ("lxc-start", "lxc-execute"):
        name = flag_value(argv[1:], "-n", "--name")
        if not name:
            return None
        lxcpath = flag_value(argv[1:], "-P", "--lxcpath") or default_lxcpath(procs, pid)
        return lxcpath, name, flag_value(argv[1:], "-f", "--rcfile")
    if prog in ("incusd", "lxd") and len(argv) >= 4 and argv[1] == "forkstart":
        # incusd forkstart NAME LXCPATH CONFIG (the monitor before retitling, if it does not)
        return argv[3], argv[2], argv[4] if len(argv) > 4 else None
    return None


def default_lxcpath(procs: ProcTable, pid: int) -> str:
    text = read_text(procs.root_path(pid, "/etc/lxc/lxc.conf")) or ""
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "lxc.lxcpath" and value.strip():
            return value.strip()
    return DEFAULT_LXCPATH


def payload_init(procs: ProcTable, mon: int) -> Optional[int]:
    """The container's init: the monitor's child in another PID namespace."""
    kids = procs.children(mon)
    mine = _pidns(procs, mon)
    for kid in kids:
        ns = _pidns(procs, kid)
        if ns is not None and ns != mine:
            return kid
    return None


def _pidns(procs: ProcTable, pid: int) -> Optional[str]:
    try:
        return os.readlink(f"{procs.proc}/{pid}/ns/pid")
    except OSError:
        return None


def record(procs: ProcTable, mon: int, init: int, lxcpath: str, name: str, config: Optional[str]) -> Owned:
    text, conf_path = read_config(procs, mon, lxcpath, name, config)
    comm = procs.comm(mon) or ""
    manager = {"incusd": "incus", "lxd": "lxd"}.get(comm, "lxc")
    if manager == "lxc" and os.path.exists(procs.root_path(mon, f"/etc/pve/lxc/{name}.conf")):
        manager = "proxmox"
    entries = parse_config(text or "")
    details: dict[str, object] = {
        "lxcpath": lxcpath,
        "manager": manager,
        "networks": networks(entries),
        "monitor_pid": mon,
    }
    if conf_path:
        details["config"] = conf_path
    hostname = entries.get("lxc.uts.name")
    if hostname:
        details["hostname"] = hostname.strip('"')
    return Owned(
        runtime="lxc",
        kind="container",
        id=f"{lxcpath.rstrip('/')}/{name}",
        name=name,
        state=freezer_state(procs, init, mon),
        image=template(text or ""),
        pids=[init],
        control={"lxcpath": lxcpath, "name": name, "monitor_pid": mon, "manager": manager},
        details=details,
    )


def read_config(procs: ProcTable, mon: int, lxcpath: str, name: str,
                config: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    """The container's config text (as the monitor sees the filesystem) and its path."""
    candidates = [config] if config else []
    candidates += [f"{lxcpath}/{name}/config", f"/var/log/incus/{name}/lxc.conf",
                   f"/var/snap/lxd/common/lxd/logs/{name}/lxc.conf", f"/var/log/lxd/{name}/lxc.conf"]
    for path in candidates:
        if path:
            text = read_text(procs.root_path(mon, path), limit=1 << 20)
            if text is not None:
                return text, path
    return None, None


def parse_config(text: str) -> dict[str, str]:
    """``key = value`` lines (comments and includes skipped; a later key wins)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip()
    return out


def networks(entries: dict[str, str]) -> list[dict[str, str]]:
    """The config's network entries, by index: [{"index": "0", "type": "veth", "link": …}, …]."""
    by_index: dict[int, dict[str, str]] = {}
    for key, value in entries.items():
        m = NET_KEY.match(key)
        if m and m.group(2) in NET_FIELDS:
            by_index.setdefault(int(m.group(1)), {"index": m.group(1)})[m.group(2)] = value
    return [by_index[i] for i in sorted(by_index)]


def template(text: str) -> Optional[str]:
    """The template it was made from (``busybox``; ``debian bookworm amd64`` for lxc-download)."""
    tmpl = params = None
    for line in text.splitlines()[:8]:
        if line.startswith("# Template used to create this container:"):
            tmpl = os.path.basename(line.split(":", 1)[1].strip()).removeprefix("lxc-")
        elif line.startswith("# Parameters passed to the template:"):
            params = line.split(":", 1)[1].split()
    if tmpl == "download" and params:
        bits = [flag_value(params, "-d", "--dist"), flag_value(params, "-r", "--release"),
                flag_value(params, "-a", "--arch")]
        if any(bits):
            return " ".join(b for b in bits if b)
    return tmpl or None


def freezer_state(procs: ProcTable, init: int, mon: int) -> str:
    """``running``, ``frozen`` or ``freezing``, from the v1 freezer or the v2 cgroup.events."""
    text = read_text(f"{procs.proc}/{init}/cgroup") or ""
    words = set()
    for line in text.splitlines():
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if "freezer" in controllers.split(","):
            for base in ("/sys/fs/cgroup/freezer", procs.root_path(mon, "/sys/fs/cgroup/freezer")):
                v = read_text(f"{base}{path}/freezer.state")
                if v is not None:
                    words.add(v.strip().lower())
                    break
        elif controllers == "":
            for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
                v = read_text(f"{base}{path}/cgroup.events")
                if v is not None:
                    if "frozen 1" in v.splitlines():
                        words.add("frozen")
                    break
    if "frozen" in words:
        return "frozen"
    if "freezing" in words:
        return "freezing"
    return "running"
