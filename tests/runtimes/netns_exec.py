"""Run a runtime's tool inside a test's network namespace, with the mounts it needs there.

``ip netns exec NS`` gives the command a private mount namespace (a slave
of the root one) and mounts a fresh sysfs on ``/sys`` so that
``/sys/class/net`` shows NS.  That fresh sysfs hides the host's cgroup
mounts under ``/sys/fs/cgroup``; LXC ("There are no useable cgroup
controllers") and systemd-nspawn ("Failed to determine whether the
unified cgroups hierarchy is used") then refuse to start.  The prelude
here mounts the same hierarchies again (same kind and options, so the
very same hierarchies) inside that private namespace, and nothing of it
reaches the root mount namespace.

Optionally the command is first moved into cgroup ``CGDIR`` of the
named (``name=systemd``) and unified hierarchies: systemd-nspawn with
``--keep-unit`` and no systemd makes its ``payload``/``supervisor``
cgroups below its own cgroup, which would otherwise be the root one,
shared by every test.  ``remove_cgroups`` removes such a tree again.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Optional, Sequence

CGROUP_ROOT = "/sys/fs/cgroup"


def cgroup_mounts() -> list[tuple[str, str, str]]:
    """(mount point, fstype, super options) of every cgroup mount of this mount namespace."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        pre, _, post = line.partition(" - ")
        fields, tail = pre.split(), post.split()
        if len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2", "tmpfs"):
            point = fields[4]
            if point == CGROUP_ROOT or point.startswith(CGROUP_ROOT + "/"):
                opts = ",".join(o for o in tail[2].split(",") if o not in ("rw", "ro"))
                out.append((point, tail[0], opts))
    return out


def prelude(cgdir: Optional[str] = None, tmpfs: Sequence[str] = ()) -> str:
    """Shell lines that remount the cgroup hierarchies (and tmpfs on ``tmpfs`` paths)."""
    lines = ["set -e"]
    for point, fstype, opts in cgroup_mounts():
        src = "cgroup_root" if fstype == "tmpfs" else fstype
        o = "mode=755" if fstype == "tmpfs" else opts
        lines.append(f"mkdir -p {shlex.quote(point)}")
        lines.append(f"mount -t {fstype} {'-o ' + shlex.quote(o) if o else ''} {src} {shlex.quote(point)}")
    for p in tmpfs:
        lines.append(f"mkdir -p {shlex.quote(p)} && mount -t tmpfs -o mode=755 tmpfs {shlex.quote(p)}")
    if cgdir:
        for h in join_hierarchies():
            d = shlex.quote(f"{h}/{cgdir.strip('/')}")
            lines.append(f"mkdir -p {d} && echo $$ > {d}/cgroup.procs")
    return "\n".join(lines) + '\nexec "$@"\n'


def join_hierarchies() -> list[str]:
    """The hierarchies a process is moved in for ``cgdir``: the named systemd one and the unified one."""
    out = []
    for point, fstype, opts in cgroup_mounts():
        if fstype == "cgroup2" or "name=systemd" in opts.split(","):
            out.append(point)
    return out


def command(netns: str, argv: Sequence[str], *, cgdir: Optional[str] = None,
            tmpfs: Sequence[str] = ()) -> list[str]:
    """The argv that runs ``argv`` in ``netns`` with the cgroup mounts in place."""
    return ["ip", "netns", "exec", netns, "sh", "-c", prelude(cgdir, tmpfs), "sh", *argv]


def run(netns: str, argv: Sequence[str], *, check: bool = True,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` there and wait; output captured as text."""
    r = subprocess.run(command(netns, argv), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} (in {netns}) failed ({r.returncode}): "
                           f"{r.stderr.strip()[-800:]}")
    return r


def remove_cgroups(cgdir: str) -> list[str]:
    """Remove the cgroup tree ``cgdir`` (deepest first) in every hierarchy; what could not be removed."""
    left = []
    for point, fstype, _ in cgroup_mounts():
        if fstype == "tmpfs":
            continue
        top = Path(point) / cgdir.strip("/")
        if not top.is_dir():
            continue
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -t[0].count("/")):
            try:
                os.rmdir(dirpath)
            except OSError:
                left.append(dirpath)
    return left
