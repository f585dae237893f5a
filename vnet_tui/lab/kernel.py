"""System calls the lab needs that Python lacks: unshare, setns, bind mounts, persistent taps, sysctls."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import struct
from typing import Optional

from vnet_tui.net.netns import NETNS_RUN_DIR

CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SHARED = 1 << 20
MNT_DETACH = 2
TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int) -> None:
    """Move the calling thread into namespace ``fd`` (of type ``nstype``, e.g. CLONE_NEWNET)."""
    _check(_libc.setns(fd, nstype), "setns")


def mount(source: str, target: str, flags: int, fstype: str = "none") -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode(), flags, None), f"mount {target}")


def umount(target: str) -> bool:
    """Lazily unmount ``target``; False when it was not mounted."""
    if _libc.umount2(target.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err in (errno.EINVAL, errno.ENOENT):
            return False
        raise OSError(err, f"umount {target}: {os.strerror(err)}")
    return True


def prepare_netns_dir() -> None:
    """Make /run/netns a shared mount point as ``ip netns add`` does (so mounts propagate)."""
    os.makedirs(NETNS_RUN_DIR, mode=0o755, exist_ok=True)
    try:
        mount("none", NETNS_RUN_DIR, MS_SHARED | MS_REC)
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise
        mount(NETNS_RUN_DIR, NETNS_RUN_DIR, MS_BIND | MS_REC)
        mount("none", NETNS_RUN_DIR, MS_SHARED | MS_REC)


def pin_netns(name: str, source: str = "/proc/self/ns/net") -> str:
    """Bind-mount namespace ``source`` at /run/netns/``name``; the name must be free."""
    path = os.path.join(NETNS_RUN_DIR, name)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
    os.close(fd)
    try:
        mount(source, path, MS_BIND)
    except OSError:
        os.unlink(path)
        raise
    return path


def unpin_netns(name: str) -> bool:
    """Remove /run/netns/``name`` (unmount and unlink); False when it was not there."""
    path = os.path.join(NETNS_RUN_DIR, name)
    if not os.path.lexists(path):
        return False
    umount(path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    return True


def make_tap(name: str) -> None:
    """Create persistent tap ``name`` in the calling thread's network namespace."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    try:
        ifr = struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)
        fcntl.ioctl(fd, TUNSETIFF, ifr)
        fcntl.ioctl(fd, TUNSETPERSIST, 1)
    finally:
        os.close(fd)


def write_sysctl(path: str, value: str) -> None:
    """Write a sysctl as the calling thread's namespaces see it ("net/ipv6/conf/default/x")."""
    with open("/proc/sys/" + path, "w") as f:
        f.write(value)


def read_sysctl(path: str) -> str:
    """A sysctl as the calling thread's namespaces see it, stripped."""
    with open("/proc/sys/" + path) as f:
        return f.read().strip()


def has_link_local(ifname: str) -> bool:
    """Has link ``ifname`` (in the calling thread's network namespace) an IPv6 link-local address yet?"""
    try:
        # lines: address index prefix scope flags name; scope 20: link
        with open("/proc/thread-self/net/if_inet6") as f:
            return any(len(w) == 6 and w[5] == ifname and w[3] == "20" for w in map(str.split, f))
    except FileNotFoundError:  # no IPv6 in this kernel
        return True


def process_start(pid: int) -> Optional[int]:
    """The process's start time (clock ticks since boot): with the pid, its identity. None: gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None  # a zombie holds no namespace and runs nothing
    return int(fields[19])


def process_state(pid: int) -> str:
    """The process's state letter (R, S, D, Z, …); "" when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return ""
    return raw[raw.rindex(b")") + 2:].split(maxsplit=1)[0].decode()


def alive(pid: int, start: Optional[int] = None) -> bool:
    """True while process ``pid`` (started at ``start``, when given) exists and is not a zombie."""
    now = process_start(pid)
    return now is not None and (start is None or now == start)
