"""The change layer: every change vnet-tui makes to a kernel or a VM goes through here.

``ChangeNs`` is one network namespace opened for changes: its fd (checked
against the inode discovery saw), and a pyroute2 ``IPRoute`` created
*inside* it by entering it from the current thread (never
``IPRoute(netns=…)``, which forks and can create namespaces).  Its write
methods — links, addresses, routes, sysctls, taps — and ``qmp_call`` each
pass one checkpoint first, so the fault-injection switch can fail any of
them:

* ``faults.arm(n, errno)`` (or ``with faults.armed(n, errno):``) makes the
  n-th change from now fail with ``errno``, once;
* the environment variable ``VNET_TUI_FAULT="N:ERRNO"`` (``3:EEXIST`` or
  ``3:17``) arms it at import, for tests that drive the CLI.

A netlink change fails with pyroute2's ``NetlinkError`` (as the kernel's
refusal would); sysctl, tap and QMP changes with ``OSError``.
"""

from __future__ import annotations

import errno as E
import fcntl
import os
import struct
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, TypeVar

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from vnet_tui.core.errors import NotFound

from . import rawchange
from .rawread import open_socket
from .netns import NetnsError, entered, netns_inode, open_netns

FAULT_ENV = "VNET_TUI_FAULT"
T = TypeVar("T")


class Faults:
    """The fault-injection switch: fail the n-th change call with a chosen errno."""

    def __init__(self) -> None:
        self.calls = 0  # change calls since the last arm()/reset()
        self._fail_at: Optional[int] = None
        self._errno = 0
        self.fired: Optional[str] = None  # what the injected fault hit

    def arm(self, n: int, err: int) -> None:
        """Fail the n-th change call from now (1 = the next one) with ``err``."""
        self.calls, self._fail_at, self._errno, self.fired = 0, n, err, None

    def disarm(self) -> None:
        self._fail_at = None

    def reset(self) -> None:
        """Start counting again, unarmed (``calls`` then counts the steps of an operation)."""
        self.arm(0, 0)
        self._fail_at = None

    @contextmanager
    def armed(self, n: int, err: int) -> Iterator["Faults"]:
        self.arm(n, err)
        try:
            yield self
        finally:
            self.disarm()

    def load_env(self, value: Optional[str]) -> None:
        """Arm from ``N:ERRNO`` (an errno name or number); empty: leave unarmed."""
        if not value:
            return
        n, _, name = value.partition(":")
        err = int(name) if name.isdigit() else getattr(E, name or "EIO", E.EIO)
        self.arm(int(n), err)

    def checkpoint(self, what: str, netlink: bool = True) -> None:
        """Count one change call; raise the injected fault if this is the armed one."""
        self.calls += 1
        if self._fail_at is not None and self.calls == self._fail_at:
            self._fail_at = None
            self.fired = what
            if netlink:
                raise NetlinkError(self._errno, f"{os.strerror(self._errno)} (injected at {what})")
            raise OSError(self._errno, f"{os.strerror(self._errno)} (injected at {what})")


faults = Faults()
faults.load_env(os.environ.get(FAULT_ENV))


def errno_of(exc: BaseException) -> int:
    """The errno behind a failed change (0 if there is none)."""
    if isinstance(exc, NetlinkError):
        return int(exc.code or 0)
    if isinstance(exc, OSError):
        return int(exc.errno or 0)
    return 0


def explain(exc: BaseException, where: str) -> str:
    """What the operator reads for a failed change (SAFETY.md's errno table)."""
    err = errno_of(exc)
    words = {
        E.EEXIST: f"already exists in {where}",
        E.ENODEV: "it disappeared (deleted by someone else?)",
        E.EPERM: "needs root / CAP_NET_ADMIN",
        E.EACCES: "not allowed here (IPv6 disabled?)",
        E.EADDRNOTAVAIL: "address not usable here",
        E.EBUSY: "device busy",
        E.EINVAL: "the kernel refused the value (EINVAL)",
    }
    base = words.get(err, os.strerror(err) if err else str(exc))
    injected = " [injected fault]" if "injected" in str(exc) else ""
    return base + injected


def ip_command(label: Optional[str], *words: str) -> str:
    """``ip [-n NS] …`` as an operator would type it; a path label goes through nsenter."""
    if label and label.startswith("/"):
        return " ".join(["nsenter", f"--net={label}", "ip"] + list(words))
    return " ".join(["ip"] + (["-n", label] if label else []) + list(words))


def sysctl_command(label: Optional[str], path: str, value: str) -> str:
    """``sysctl -w net/…=V`` inside the namespace (slashes: interface names may hold dots)."""
    cmd = f"sysctl -w net/{path}={value}"
    if label and label.startswith("/"):
        return f"nsenter --net={label} {cmd}"
    return f"ip netns exec {label} {cmd}" if label else cmd


_link_generation = 0


def _links_changed() -> None:
    global _link_generation
    _link_generation += 1


def link_generation() -> int:
    """Bumped by every change (any namespace) that adds, renames, moves or deletes a link.

    Deleting one end of a veth deletes the other in its namespace too, so a
    name→ifindex cache must be dropped on any such change, wherever made.
    """
    return _link_generation


# tun/tap ioctls (linux/if_tun.h)
TUNSETIFF, TUNSETPERSIST = 0x400454CA, 0x400454CB
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000


class ChangeNs:
    """A network namespace opened for changes (None: our own namespace).

    ``label`` is how the namespace is named in rendered commands
    (``ip -n LABEL …``); None renders as plain ``ip …``.
    """

    def __init__(
        self, where: Optional[str], label: Optional[str] = None, expect_inode: Optional[int] = None
    ) -> None:
        self.where = where
        self.label = label if label is not None else (where if where and not where.startswith("/") else None)
        try:
            self.fd = open_netns(where)
        except NetnsError as e:
            raise NotFound(f"network namespace {where} is gone ({e.strerror})", rule="namespace") from None
        try:
            self.inode = netns_inode(self.fd)
            if expect_inode is not None and self.inode != expect_inode:
                raise NotFound(
                    f"{where}: the namespace changed since it was discovered (container restarted?)",
                    rule="namespace",
                )
        except BaseException:
            os.close(self.fd)
            raise
        self._ipr: Optional[IPRoute] = None  # opened on first use: the hot changes go raw (rawchange)
        self._reader: Optional[IPRoute] = None
        self._strict: Optional[bool] = None  # kernel-side dump filters work (NETLINK_GET_STRICT_CHK)
        self._raw: Any = None  # a raw rtnetlink socket for reads (vnet_tui.net.rawread)

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
        if self._reader is not None:
            self._reader.close()
        if self._ipr is not None:
            self._ipr.close()
        os.close(self.fd)

    @property
    def ipr(self) -> IPRoute:
        """pyroute2 in the namespace, for what rawchange does not encode (routes, lookups, neighbours)."""
        if self._ipr is None:
            with entered(self.fd):
                self._ipr = IPRoute()
        return self._ipr

    def _raw_call(self, build: Callable[[int], bytes]) -> None:
        rawchange.call(self.raw(), build)

    def __enter__(self) -> "ChangeNs":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def name(self) -> str:
        """For messages: the namespace's name, or 'the host namespace'."""
        return self.label or "the root namespace"

    def ip(self, *words: str) -> str:
        """The equivalent iproute2 command (for --dry-run and the preview)."""
        return ip_command(self.label, *words)

    def _do(self, what: str, fn: Callable[[], T]) -> T:
        faults.checkpoint(what)
        return fn()

    # -- links ----------------------------------------------------------------
    def veth_add(
        self,
        ifname: str,
        mac: str,
        mtu: int,
        peer_name: str,
        peer: "ChangeNs",
        peer_mac: str,
        peer_mtu: Optional[int] = None,
    ) -> None:
        """One RTM_NEWLINK: this end here, the peer already in ``peer``'s namespace.

        MACs and MTUs travel in the same message (udev leaves a MAC set at
        creation alone; one set afterwards it may overwrite).
        """
        _links_changed()
        self._do(
            f"veth_add {ifname}",
            lambda: self._raw_call(
                lambda seq: rawchange.veth_add(seq, ifname, mac, mtu, peer_name, peer.fd, peer_mac, peer_mtu or mtu)
            ),
        )

    def link_set(self, index: int, **kw: Any) -> None:
        """``ip link set``: address, mtu, state, master (0 = none), ifname, ifalias."""
        if "ifname" in kw or "net_ns_fd" in kw:
            _links_changed()
        if kw.keys() <= rawchange.LINK_SET_KEYS:
            run: Callable[[], Any] = lambda: self._raw_call(lambda seq: rawchange.link_set(seq, index, **kw))
        else:
            run = lambda: self.ipr.link("set", index=index, **kw)  # noqa: E731
        self._do(f"link_set {index} {sorted(kw)}", run)

    def link_del(self, index: int) -> None:
        _links_changed()
        self._do(f"link_del {index}", lambda: self._raw_call(lambda seq: rawchange.link_del(seq, index)))

    def tap_add(self, ifname: str) -> None:
        """A persistent tap (TUNSETIFF + TUNSETPERSIST on /dev/net/tun, inside this namespace)."""

        def make() -> None:
            with entered(self.fd):
                fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
            try:
                ifr = struct.pack("16sH", ifname.encode(), IFF_TAP | IFF_NO_PI)
                fcntl.ioctl(fd, TUNSETIFF, ifr + b"\0" * 22)
                fcntl.ioctl(fd, TUNSETPERSIST, 1)
            finally:
                os.close(fd)

        _links_changed()
        faults.checkpoint(f"tap_add {ifname}", netlink=False)
        make()

    # -- reads of one interface (kernel-filtered dumps) ------------------------------
    def raw(self) -> Any:
        """A raw rtnetlink socket in the namespace, for reads only (``vnet_tui.net.rawread``)."""
        if self._raw is None:
            self._raw = open_socket(self.fd)
        return self._raw

    def _strict_reader(self) -> Optional[IPRoute]:
        """A second socket in the namespace with NETLINK_GET_STRICT_CHK, for reads only.

        With it the kernel honours the filters in a dump request (ifa_index,
        RTA_OIF) and sends one interface's addresses/routes instead of the
        whole namespace's.  Changes stay on ``ipr``.  None: the kernel is too
        old (< 4.20); callers then dump everything and filter here.
        """
        if self._strict is None:
            try:
                with entered(self.fd):
                    self._reader = IPRoute(strict_check=True)
                self._strict = True
            except (OSError, NetlinkError):
                self._strict = False
        return self._reader if self._strict else None

    def _filtered(self, strict: Callable[[IPRoute], Any], plain: Callable[[], Any]) -> list[Any]:
        """``strict`` on the strict socket; ``plain`` (whole dump) if there is none or it refuses."""
        rd = self._strict_reader()
        if rd is not None:
            try:
                return list(strict(rd))
            except NetlinkError as e:
                if e.code == E.ENODEV:  # the interface went away: it has nothing
                    return []
                self._strict = False  # the kernel refused the filtered request: stop trying
        return list(plain())

    def addr_dump(self, index: int) -> list[Any]:
        """The addresses on interface ``index`` (both families)."""
        # dump_filter=None: the index goes into the request (ifa_index), not a userspace filter
        msgs = self._filtered(
            lambda rd: rd.addr("dump", index=index, dump_filter=None),
            lambda: self.ipr.addr("dump", index=index),
        )
        return [m for m in msgs if m["index"] == index]

    def route_dump(self, family: int, index: int) -> list[Any]:
        """The ``family`` routes whose output interface is ``index``, all tables (RTA_OIF filter)."""
        msgs = self._filtered(
            lambda rd: rd.route("dump", family=family, oif=index, dump_filter=None),
            lambda: self.ipr.route("dump", family=family, oif=index),
        )
        return [m for m in msgs if m["family"] == family and m.get("oif") == index]

    # -- addresses and routes ---------------------------------------------------
    def addr_add(self, index: int, cidr: str) -> None:
        self._do(f"addr_add {cidr}", lambda: self._raw_call(lambda seq: rawchange.addr(seq, True, index, cidr)))

    def addr_del(self, index: int, cidr: str) -> None:
        self._do(f"addr_del {cidr}", lambda: self._raw_call(lambda seq: rawchange.addr(seq, False, index, cidr)))

    def route_add(self, **spec: Any) -> None:
        self._do(f"route_add {spec.get('dst')}", lambda: self.ipr.route("add", **spec))

    def route_del(self, **spec: Any) -> None:
        self._do(f"route_del {spec.get('dst')}", lambda: self.ipr.route("del", **spec))

    # -- sysctls (/proc/sys/net reflects the opener's current namespace) ------
    def sysctl_read(self, path: str) -> Optional[str]:
        try:
            with entered(self.fd):
                with open(f"/proc/sys/net/{path}", encoding="ascii") as f:
                    return f.read().strip()
        except FileNotFoundError:
            return None

    def sysctl_read_many(self, paths: list[str]) -> list[Optional[str]]:
        """``sysctl_read`` of each path, entering the namespace once."""
        out: list[Optional[str]] = []
        with entered(self.fd):
            for path in paths:
                try:
                    with open(f"/proc/sys/net/{path}", encoding="ascii") as f:
                        out.append(f.read().strip())
                except FileNotFoundError:
                    out.append(None)
        return out

    def sysctl_write(self, path: str, value: str) -> None:
        faults.checkpoint(f"sysctl {path}", netlink=False)
        with entered(self.fd):
            with open(f"/proc/sys/net/{path}", "w", encoding="ascii") as f:
                f.write(value)


def qmp_call(client: Any, execute: str, **args: Any) -> Any:
    """One QMP change command (``client.cmd``), counted by the fault switch."""
    faults.checkpoint(f"qmp {execute}", netlink=False)
    return client.cmd(execute, **args)
