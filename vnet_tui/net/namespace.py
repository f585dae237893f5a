"""A network namespace we watch: its fd, identity and long-lived sockets."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

from vnet_tui.core.model import Peer

from . import rtnl
from .netns import NetnsError, NetnsNotPermitted, netlink_sockets, netns_inode, open_netns
from .session import EVENT_GROUPS, NetnsSocket


@dataclass
class NsState:
    """One namespace's links, addresses and counters, as dumped together."""

    links: list[rtnl.LinkMsg] = field(default_factory=list)
    addrs: list[rtnl.AddrMsg] = field(default_factory=list)
    stats: dict[int, tuple[int, ...]] = field(default_factory=dict)
    raw_links: dict[int, bytes] = field(default_factory=dict)  # RTM_NEWLINK messages as read, if kept
    host_nsid: Optional[int] = None  # the id this namespace gives the host, if asked (discovery/deduce.py)


class Namespace:
    """An open namespace: the fd is held so the inode cannot be reused under us.

    ``where`` is a name under /run/netns, an absolute nsfs path
    (/proc/PID/ns/net, /run/docker/netns/X) or None for our own namespace.
    ``expect_inode`` guards against PID reuse: the opened namespace must be
    the one discovery saw.  ``fd``: the namespace already open there (it
    is adopted: closed with this object, or at once if this fails).
    ``lazy``: the socket is made when first used, not here (for a caller
    that may enter every namespace: discovery of 5,000 containers makes
    those of the ones it reads later after the first screen, not before).
    """

    def __init__(self, where: Optional[str], expect_inode: Optional[int] = None, fd: Optional[int] = None,
                 lazy: bool = False) -> None:
        self.where = where
        self.fd = open_netns(where) if fd is None else fd
        try:
            self.inode = netns_inode(self.fd)
            if expect_inode is not None and self.inode != expect_inode:
                raise NetnsError(0, f"{where}: namespace changed under us (inode {self.inode} != {expect_inode})")
            # our own namespace needs no setns (which would need CAP_SYS_ADMIN):
            # reading works for any user
            self._enter_fd: Optional[int] = None if where is None else self.fd
            self._sock: Optional[NetnsSocket] = None if lazy else NetnsSocket(self._enter_fd)
        except NetnsNotPermitted:
            os.close(self.fd)
            raise NetnsNotPermitted(f"network namespace {where}: not permitted: entering it needs "
                                    "CAP_SYS_ADMIN (run as root to see it)") from None
        except BaseException:
            os.close(self.fd)
            raise
        self._events: Optional[NetnsSocket] = None

    @property
    def sock(self) -> NetnsSocket:
        """The namespace's socket for requests (made inside it on first use if ``lazy``)."""
        s = self._sock
        if s is None:
            s = self._sock = NetnsSocket(self._enter_fd)
        return s

    @property
    def enter_fd(self) -> Optional[int]:
        """The fd to enter for a new socket here (None: our own namespace, no setns needed)."""
        return self._enter_fd

    def events(self) -> NetnsSocket:
        """The namespace's event socket (link and address groups), opened on first use."""
        if self._events is None:
            self._events = NetnsSocket(self._enter_fd, EVENT_GROUPS)
        return self._events

    def read(self, keep_raw: bool = False) -> NsState:
        """Dump links with their counters, and addresses: two dumps.  ``keep_raw``: keep each link's
        message too (``NsState.raw_links``), for a reader that wants what ``parse_link`` leaves out."""
        s = self.sock
        if not keep_raw:
            links = s.counted_links()
            return NsState(links=links, addrs=s.addrs(), stats={m.ifindex: m.stats64 for m in links})
        both = s.dump(rtnl.dump_counted_links_request, _with_message)
        links = [m for m, _ in both]
        return NsState(links=links, addrs=s.addrs(), stats={m.ifindex: m.stats64 for m in links},
                       raw_links={m.ifindex: raw for m, raw in both})

    def nsid_of(self, other: "Namespace") -> Optional[int]:
        """The id this namespace uses for ``other`` in IFLA_LINK_NETNSID."""
        return self.sock.nsid_of(other.fd)

    def close(self) -> None:
        """Close its sockets and its fd.  Again is a no-op: by then the fd's number may be another
        file's (a first look closes what is not a container, and closes the rest if it fails)."""
        if self.fd < 0:
            return
        if self._sock is not None:
            self._sock.close()
        if self._events is not None:
            self._events.close()
            self._events = None
        fd, self.fd = self.fd, -1
        if self._enter_fd is not None:
            self._enter_fd = -1  # (a socket asked for after this fails, entering nothing else)
        os.close(fd)

    def __repr__(self) -> str:
        return f"Namespace({self.where!r}, inode={self.inode})"


def make_sockets(namespaces: Sequence[Namespace]) -> None:
    """The request sockets of many lazy namespaces made in one pass (``netns.netlink_sockets``); one that
    fails is left to be made on first use (where it fails as it would have)."""
    lazy = [ns for ns in namespaces if ns._sock is None and ns.enter_fd is not None]
    for ns, s in zip(lazy, netlink_sockets([ns.fd for ns in lazy])):
        if not isinstance(s, OSError):
            ns._sock = NetnsSocket(sock=s)


def _with_message(buf: bytes, off: int, end: int) -> tuple[rtnl.LinkMsg, bytes]:
    """A link and its whole message (header included: ``buf[off - 16:end]``)."""
    return rtnl.parse_link(buf, off, end), bytes(buf[off - rtnl.NLMSGHDR.size:end])


def named_nsids(host: Namespace, dirs: Iterable[str] = ("/run/netns", "/run/docker/netns")) -> dict[int, str]:
    """The ids ``host`` gives the namespaces bind-mounted in ``dirs``, and their names.

    Each is opened and asked about with RTM_GETNSID on ``host``'s socket —
    never entered, so this works for a user who may not enter them (ids
    are not assigned by asking: an unassigned one is left out).
    """
    names: dict[int, str] = {}
    for d in dirs:
        try:
            entries = sorted(os.listdir(d))
        except OSError:
            continue
        for e in entries:
            try:
                fd = os.open(os.path.join(d, e), os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                nsid = host.sock.nsid_of(fd)
            except OSError:
                nsid = None
            finally:
                os.close(fd)
            if nsid is not None and nsid >= 0:
                names.setdefault(nsid, e)
    return names


def hidden_peer(nsid: int, ifindex: Optional[int], names: dict[int, str]) -> Peer:
    """The peer of a host end whose other end lives in a namespace this user may not enter.

    ``ifname`` is None (not visible: the UI says "not visible without
    CAP_SYS_ADMIN/CAP_NET_ADMIN"); the owner is the namespace's name where
    one is known (``named_nsids``), else "netns id N".
    """
    name = names.get(nsid)
    return Peer("container", name or f"netns id {nsid}", name, None, ifindex)
