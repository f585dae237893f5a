"""systemd-nspawn machines: the machine name, its leader, the networking it was started with.

Every running machine has a ``systemd-nspawn`` process whose child (in
a PID namespace of its own) is the machine's leader: its PID 1, the
init or the command it was asked to run (``sleep``, ``/bin/sh``…).  On
a host with machined, ``machinectl`` knows the same machines; nspawn
run with ``--register=no`` is known only by its command line, so that
is what is read here (and machined is never asked).

* name, the way nspawn picks it: ``-M``/``--machine``; else the basename
  of ``-D``/``--directory`` or of ``-i``/``--image`` (``.raw`` dropped);
  else the basename of nspawn's working directory (nspawn's default
  directory); the container's ``/etc/hostname`` when even that is ``/``.
* id: the machine name.  With ``--register=no`` two machines may share
  one; then each id becomes ``NAME:LEADERPID`` so that ids stay unique.
* state: ``running``, or ``frozen`` when the kernel's freezer holds the
  machine's cgroup (``systemctl freeze`` of its unit); nspawn keeps no
  other state, and a machine whose leader is not there yet is left out.
* details: the networking flags (``--network-veth``, ``--network-bridge``,
  ``--network-zone``, ``--network-veth-extra``, ``--network-interface``,
  ``--network-macvlan``/``-ipvlan``, ``--network-namespace-path``,
  ``--private-network``, ``--port``), ``--boot``, and the directory or image.
  A settings file ``NAME.nspawn`` (``systemd-nspawn@.service`` machines
  are mostly set up by one) adds its ``[Network]`` settings as nspawn
  applies them: from /etc/systemd/nspawn or /run/systemd/nspawn in full,
  from next to the directory or image only with ``--settings=trusted``,
  never with ``--settings=no``; the command line wins unless
  ``--settings=override``.  The file and what it said are in
  ``details["settings"]``.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from .base import Owned, ProcTable, read_text
from .lxc import freezer_state

COMM = "systemd-nspawn"
Options = dict[str, list[Optional[str]]]  # long option name -> its values (None for a flag), in order
# short options that take a value (systemd 252's getopt string "+hD:u:abL:M:jS:Z:qi:xp:nUE:P")
SHORT_WITH_VALUE = set("DuLMSZipE")
# long options whose value may be the next word (required_argument in nspawn.c)
LONG_WITH_VALUE = {
    "directory", "template", "image", "oci-bundle", "user", "machine", "hostname", "uuid", "slice",
    "property",
    "bind", "bind-ro", "tmpfs", "overlay", "overlay-ro", "inaccessible", "setenv", "capability",
    "drop-capability", "ambient-capability", "link-journal", "network-interface", "network-macvlan",
    "network-ipvlan", "network-veth-extra", "network-bridge", "network-zone", "network-namespace-path",
    "port",
    "personality", "selinux-context", "selinux-apifs-context", "register", "kill-signal", "settings", "chdir",
    "pivot-root", "notify-ready", "root-hash", "root-hash-sig", "verity-data", "system-call-filter", "rlimit",
    "oom-score-adjust", "cpu-affinity", "resolv-conf", "timezone", "private-users-ownership", "console",
    "load-credential", "set-credential", "bind-user", "suppress-sync", "image-policy", "uid",
}
SHORT_LONG = {"D": "directory", "u": "user", "L": "selinux-apifs-context", "M": "machine", "S": "slice",
              "Z": "selinux-context", "i": "image", "p": "port", "E": "setenv", "n": "network-veth",
              "b": "boot", "a": "as-pid2", "x": "ephemeral", "U": "private-users", "q": "quiet",
              "j": "link-journal",
              "P": "pipe"}
NETWORK_FLAGS = ("network-veth", "network-bridge", "network-zone", "network-veth-extra", "network-interface",
                 "network-macvlan", "network-ipvlan", "network-namespace-path", "private-network", "port")
# flags that give the machine a network namespace of its own (nspawn: "implies --private-network")
PRIVATE = {"private-network", "network-veth", "network-bridge", "network-zone", "network-veth-extra",
           "network-interface", "network-macvlan", "network-ipvlan"}


def scan(procs: ProcTable) -> list[Owned]:
    """Every running nspawn machine, by its systemd-nspawn process."""
    found: list[Owned] = []
    for pid in procs.with_comm(COMM):
        leader = leader_of(procs, pid)
        if leader is None:
            continue
        argv = procs.argv(pid)
        if not argv:
            continue
        opts = parse_options(argv[1:])
        name = machine_name(procs, pid, leader, opts)
        if not name:
            continue
        found.append(Owned(
            runtime="nspawn",
            kind="container",
            id=name,
            name=name,
            state=freezer_state(procs, leader, pid),
            image=_last(opts, "image"),
            pids=[leader],
            control={"machine": name, "nspawn_pid": pid, "registered": _registered(opts)},
            details=_details(procs, pid, name, opts),
        ))
    names = [r.name for r in found]
    for r in found:
        if names.count(r.name) > 1:
            r.id = f"{r.name}:{r.pids[0]}"
    return found


def _details(procs: ProcTable, pid: int, name: str, opts: Options) -> dict[str, Any]:
    det = details(opts, pid)
    merge_settings(det, settings(procs, pid, name, opts))
    return det


def leader_of(procs: ProcTable, pid: int) -> Optional[int]:
    """nspawn's child in another PID namespace: the machine's PID 1."""
    mine = _pidns(procs, pid)
    for kid in procs.children(pid):
        ns = _pidns(procs, kid)
        if ns is not None and ns != mine:
            return kid
    return None


def _pidns(procs: ProcTable, pid: int) -> Optional[str]:
    try:
        return os.readlink(f"{procs.proc}/{pid}/ns/pid")
    except OSError:
        return None


def parse_options(args: list[str]) -> Options:
    """nspawn's options up to the command: long name -> its values (None for a flag), in order."""
    opts: Options = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--" or not a.startswith("-") or a == "-":
            break  # the command the machine runs
        if a.startswith("--"):
            key, eq, value = a[2:].partition("=")
            if eq:
                opts.setdefault(key, []).append(value)
            elif key in LONG_WITH_VALUE and i + 1 < len(args):
                i += 1
                opts.setdefault(key, []).append(args[i])
            else:
                opts.setdefault(key, []).append(None)
        else:
            j = 1
            while j < len(a):  # bundled short options: -qnM NAME, -MNAME
                ch = a[j]
                key = SHORT_LONG.get(ch, ch)
                if ch in SHORT_WITH_VALUE:
                    if j + 1 < len(a):
                        value: Optional[str] = a[j + 1:]
                    elif i + 1 < len(args):
                        i += 1
                        value = args[i]
                    else:
                        value = None
                    opts.setdefault(key, []).append(value)
                    break
                opts.setdefault(key, []).append(None)
                j += 1
        i += 1
    return opts


def _last(opts: Options, key: str) -> Optional[str]:
    values = [v for v in opts.get(key, []) if v]
    return values[-1] if values else None


def _registered(opts: Options) -> bool:
    value = _last(opts, "register")
    return value is None or value.lower() not in ("no", "false", "0", "off")


def machine_name(procs: ProcTable, pid: int, leader: int, opts: Options) -> Optional[str]:
    """The machine's name as nspawn picked it (see the module's docstring)."""
    name = _last(opts, "machine")
    if name:
        return name
    for key in ("directory", "image"):
        path = _last(opts, key)
        if path:
            base = os.path.basename(path.rstrip("/"))
            if key == "image" and base.endswith(".raw"):
                base = base[:-4]
            if base:
                return base
    try:
        cwd = os.readlink(f"{procs.proc}/{pid}/cwd")
    except OSError:
        cwd = ""
    base = os.path.basename(cwd.rstrip("/"))
    if base:
        return base
    hostname = read_text(procs.root_path(leader, "/etc/hostname"), limit=256)
    return hostname.strip() if hostname and hostname.strip() else None


def details(opts: Options, pid: int) -> dict[str, Any]:
    net: dict[str, Any] = {}
    for key in NETWORK_FLAGS:
        if key in opts:
            values = [v for v in opts[key] if v is not None]
            net[key] = values if values else True
    for key, values in list(net.items()):
        if key in ("network-bridge", "network-zone", "network-namespace-path") and isinstance(values, list):
            net[key] = values[-1]
    out: dict[str, Any] = {
        "network": net,
        "private_network": bool(PRIVATE & set(opts)),
        "boot": "boot" in opts,
        "nspawn_pid": pid,
    }
    for key in ("directory", "image"):
        if _last(opts, key):
            out[key] = _last(opts, key)
    return out


# [Network] keys of a .nspawn file -> the command-line option they stand for
SETTINGS_NETWORK = {"Private": "private-network", "VirtualEthernet": "network-veth",
                    "VirtualEthernetExtra": "network-veth-extra", "Interface": "network-interface",
                    "MACVLAN": "network-macvlan", "IPVLAN": "network-ipvlan", "Bridge": "network-bridge",
                    "Zone": "network-zone", "Port": "port"}
TRUE = ("1", "yes", "true", "on")


def settings(procs: ProcTable, pid: int, name: str, opts: Options) -> Optional[dict[str, Any]]:
    """The machine's ``NAME.nspawn`` as nspawn finds it, or None.

    {"file", "trusted", "applied", "override", "network": {option: [values]}}
    """
    mode = (_last(opts, "settings") or "yes").lower()
    if mode in ("no", "false", "0", "off"):
        return None
    places = [(f"/etc/systemd/nspawn/{name}.nspawn", True), (f"/run/systemd/nspawn/{name}.nspawn", True)]
    for key in ("directory", "image"):
        path = _last(opts, key)
        if path:
            places.append((f"{os.path.dirname(path.rstrip('/'))}/{name}.nspawn", mode == "trusted"))
    for path, trusted in places:
        text = read_text(procs.root_path(pid, path), limit=1 << 20)
        if text is None:
            continue
        network: dict[str, list[str]] = {}
        section = ""
        for line in text.splitlines():
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
            elif section == "Network" and "=" in line:
                key, _, value = line.partition("=")
                if key.strip() in SETTINGS_NETWORK:
                    network.setdefault(SETTINGS_NETWORK[key.strip()], []).append(value.strip())
        return {"file": path, "trusted": trusted, "applied": trusted, "network": network,
                "override": mode == "override"}
    return None


def merge_settings(det: dict[str, Any], found: Optional[dict[str, Any]]) -> None:
    """Add the settings file's [Network] to ``det["network"]`` where nspawn applies it."""
    if found is None:
        return
    det["settings"] = found
    if not found["applied"]:
        return
    net = det["network"]
    for key, values in found["network"].items():
        if key in net and not found["override"]:
            continue  # the command line wins
        if key in ("private-network", "network-veth"):
            if values[-1].lower() in TRUE:
                net[key] = True
            else:
                net.pop(key, None)
        elif key in ("network-bridge", "network-zone"):
            net[key] = values[-1]
        else:
            net[key] = [w for v in values for w in v.split()]
    det["private_network"] = bool(PRIVATE & set(net)) or det["private_network"]
