"""Whether this process may change the network (CAP_NET_ADMIN), and why not."""

from __future__ import annotations

from typing import Optional

CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21


def effective_caps(status_path: str = "/proc/self/status") -> int:
    """The effective capability mask of this process (0 if unreadable)."""
    try:
        with open(status_path) as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def privilege(read_only_flag: bool, caps: Optional[int] = None) -> tuple[bool, str]:
    """(read-write?, why) for the header: ``--read-only`` wins, then capabilities."""
    if read_only_flag:
        return False, "--read-only"
    caps = effective_caps() if caps is None else caps
    if not caps & (1 << CAP_NET_ADMIN):
        return False, "no CAP_NET_ADMIN"
    if not caps & (1 << CAP_SYS_ADMIN):
        return True, "no CAP_SYS_ADMIN: containers' ends read-only"
    return True, ""
