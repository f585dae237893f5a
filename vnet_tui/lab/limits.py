"""Errors where the kernel sets a limit, said with the limit's name (and how to see or raise it).

``lab up`` of thousands of containers meets limits a small lab never does:
a bridge's ports (BR_MAX_PORTS), open files (RLIMIT_NOFILE), processes,
namespaces, mounts.  ``explain`` turns such an errno into a message that
names the limit and a rule (CLI.md: errors name their rule); any other
error keeps its own words and ``lab-build``.
"""

from __future__ import annotations

import errno
import resource
from typing import Optional

from .names import BR_MAX_PORTS, PORTS_PER_BRIDGE


def _sysctl(path: str) -> str:
    try:
        with open("/proc/sys/" + path) as f:
            return f.read().strip()
    except OSError:
        return "?"


def _rlimit(which: int) -> str:
    soft, hard = resource.getrlimit(which)
    show = lambda v: "unlimited" if v == resource.RLIM_INFINITY else f"{v:,}"  # noqa: E731
    return f"soft {show(soft)}, hard {show(hard)}"


def explain(code: Optional[int], what: str) -> tuple[str, str]:
    """(message, rule) for an error ``code`` that happened doing ``what``."""
    if code == errno.EXFULL:
        return (f"{what}: the kernel refused another bridge port (EXFULL): a Linux bridge holds at most "
                f"{BR_MAX_PORTS:,} ports (BR_MAX_PORTS); the lab puts at most {PORTS_PER_BRIDGE:,} on "
                "each bridge (--bridges N spreads the containers wider)", "bridge-full")
    if code == errno.EMFILE:
        return (f"{what}: this process holds as many open files as RLIMIT_NOFILE allows "
                f"({_rlimit(resource.RLIMIT_NOFILE)}; raise it with ulimit -n)", "fd-limit")
    if code == errno.ENFILE:
        return (f"{what}: the system's open-file limit is reached "
                f"(fs.file-max = {_sysctl('fs/file-max')})", "fd-limit")
    if code == errno.EAGAIN and ("fork" in what or "keeper" in what or "ct:" in what):
        return (f"{what}: no more processes allowed (RLIMIT_NPROC {_rlimit(resource.RLIMIT_NPROC)}, "
                f"kernel.pid_max = {_sysctl('kernel/pid_max')}, kernel.threads-max = "
                f"{_sysctl('kernel/threads-max')}, or the cgroup's pids.max)", "process-limit")
    if code == errno.ENOSPC and "unshare" in what:
        return (f"{what}: no more network namespaces allowed "
                f"(user.max_net_namespaces = {_sysctl('user/max_net_namespaces')})", "netns-limit")
    if code == errno.ENOSPC and "mount" in what:
        return (f"{what}: no more mounts allowed (fs.mount-max = {_sysctl('fs/mount-max')}; "
                "each namespace is pinned by a bind mount in /run/netns)", "mount-limit")
    if code == errno.ENOMEM:
        return f"{what}: the kernel is out of memory for this (ENOMEM)", "memory"
    return what, "lab-build"
