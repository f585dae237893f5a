"""Many namespaces' sockets made in one pass (netns.netlink_sockets, namespace.make_sockets).

The thread goes from one namespace straight into the next and comes home
once: each socket must live where its namespace is, a namespace that
cannot be entered gets its error in its place, and the thread ends where
it began whatever happened.
"""

from __future__ import annotations

import os

import pytest

from tests.helpers import netns
from tests.ui.test_watcher import sh
from vnet_tui.net.namespace import Namespace, make_sockets
from vnet_tui.net.netns import netlink_sockets, netns_inode
from vnet_tui.net.session import NetnsSocket

pytestmark = pytest.mark.live


def _home() -> int:
    return netns_inode("/proc/thread-self/ns/net")


def test_each_socket_lives_in_its_namespace_and_the_thread_comes_home():
    home = _home()
    with netns(3) as names:
        for n, name in enumerate(names):
            sh("ip", "-n", name, "link", "add", f"mark{n}", "type", "bridge")  # a link only that one has
        fds = [os.open(f"/run/netns/{n}", os.O_RDONLY) for n in names]
        own = os.open("/proc/self/ns/net", os.O_RDONLY)
        r, w = os.pipe()  # not a namespace: setns refuses it
        try:
            got = netlink_sockets([fds[0], own, r, fds[1], fds[2]])
            assert _home() == home
            assert isinstance(got[2], OSError) and not isinstance(got[0], OSError)
            socks = [s for s in got if not isinstance(s, OSError)]
            try:
                seen = [{l.ifname for l in NetnsSocket(sock=s).links()} for s in socks]
            finally:
                for s in socks:
                    s.close()
            assert "mark0" in seen[0] and "mark1" in seen[2] and "mark2" in seen[3]
            assert not any(n.startswith("mark") for n in seen[1])  # our own namespace, entered from a foreign one
        finally:
            for fd in (*fds, own, r, w):
                os.close(fd)


def test_make_sockets_gives_lazy_namespaces_the_socket_they_would_make_themselves():
    with netns(2) as names:
        sh("ip", "-n", names[1], "link", "add", "only1", "type", "bridge")
        nss = [Namespace(n, lazy=True) for n in names]
        try:
            make_sockets(nss)
            assert all(ns._sock is not None for ns in nss)
            assert "only1" in {l.ifname for l in nss[1].sock.links()}
            assert "only1" not in {l.ifname for l in nss[0].sock.links()}
            assert _home() != nss[0].inode
        finally:
            for ns in nss:
                ns.close()


def test_a_namespace_closed_twice_closes_nothing_else():
    """A first look closes what is not a container, and on a failure closes the rest: a namespace
    closed twice must not close the file that took its fd's number meanwhile."""
    with netns(1) as (name,):
        ns = Namespace(name)
        ns.close()
        r, w = os.pipe()  # (likely takes the number just freed)
        try:
            ns.close()
            os.fstat(r), os.fstat(w)  # both still open
            with pytest.raises(OSError):
                ns.sock.links()  # a socket asked for after close enters nothing
        finally:
            os.close(r)
            os.close(w)
