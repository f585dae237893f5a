"""The change layer: ``ChangeNs``, one network namespace opened for changes.

Every change vnet-tui makes to a kernel goes through a ``ChangeNs``: its
fd (checked against the inode discovery saw), raw rtnetlink requests for
the hot changes (links and addresses, encoded by the codec ``net/rtnl``),
and a pyroute2 ``IPRoute`` created *inside* the namespace by entering it
from the current thread (never ``IPRoute(netns=…)``, which forks and can
create namespaces) for the rest (routes, lookups).  Each write method
passes the fault switch's checkpoint first (``net/faults.py``); one that
adds, renames, moves or deletes a link bumps the link generation
(``net/generation.py``).  A refused netlink change raises pyroute2's
``NetlinkError`` with the kernel's errno, whichever path made it.
"""

from __future__ import annotations

import errno as E
import os
from typing import Any, Callable, Optional, TypeVar

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from vnet_tui.core.errors import NotFound

from .faults import faults
from .generation import links_changed
from .ipcommand import ip_command
from .netns import NetnsError, entered, netns_inode, open_netns
from .rawread import open_socket
from .rtnl import addrs, linkchange
from .rtnl.exchange import SocketClosed, ack
from .tap import make_tap

T = TypeVar("T")


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
        self._ipr: Optional[IPRoute] = None  # opened on first use: the hot changes go raw (net/rtnl)
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
        """pyroute2 in the namespace, for what the codec does not encode (routes, lookups, neighbours)."""
        if self._ipr is None:
            with entered(self.fd):
                self._ipr = IPRoute()
        return self._ipr

    def _raw_call(self, build: Callable[[int], bytes]) -> None:
        """Send the request ``build(seq)`` makes on the raw socket; NetlinkError if the kernel refuses it."""
        s = self.raw()
        try:
            code = ack(s.sock, s._buf, build(s._next_seq()))
        except SocketClosed:
            raise NetlinkError(0, "netlink socket closed") from None
        if code:
            raise NetlinkError(code, os.strerror(code))

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
        links_changed()
        self._do(
            f"veth_add {ifname}",
            lambda: self._raw_call(
                lambda seq: linkchange.new_veth(seq, ifname, mac, peer_name, peer_mac, peer.fd, mtu=mtu,
                                                peer_mtu=peer_mtu or mtu)
            ),
        )

    def link_set(self, index: int, **kw: Any) -> None:
        """``ip link set``: address, mtu, state, master (0 = none), ifname, ifalias."""
        if "ifname" in kw or "net_ns_fd" in kw:
            links_changed()
        if kw.keys() <= linkchange.LINK_SET_KEYS:
            run: Callable[[], Any] = lambda: self._raw_call(lambda seq: linkchange.set_link(seq, index, **kw))
        else:
            run = lambda: self.ipr.link("set", index=index, **kw)  # noqa: E731
        self._do(f"link_set {index} {sorted(kw)}", run)

    def link_del(self, index: int) -> None:
        links_changed()
        self._do(f"link_del {index}", lambda: self._raw_call(lambda seq: linkchange.del_link(seq, index)))

    def tap_add(self, ifname: str) -> None:
        """A persistent tap (TUNSETIFF + TUNSETPERSIST on /dev/net/tun, inside this namespace)."""
        links_changed()
        faults.checkpoint(f"tap_add {ifname}", netlink=False)
        make_tap(self.fd, ifname)

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
        self._do(f"addr_add {cidr}", lambda: self._raw_call(lambda seq: addrs.new_addr(seq, index, cidr)))

    def addr_del(self, index: int, cidr: str) -> None:
        self._do(f"addr_del {cidr}", lambda: self._raw_call(lambda seq: addrs.del_addr(seq, index, cidr)))

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
