"""The lab's per-container requests (lab/bulk.py) against the real kernel.

What ``lab up`` relies on to send few requests: a veth pair with one queue
each way whose echo names the peer's ifindex, a socket per namespace made
by entering each in turn (and coming back), and a batch where only the last
request asks for an ACK yet any refusal is still named.  No speed is
asserted here (bench/lab.py measures it).
"""

from __future__ import annotations

import os

import pytest

from tests.helpers import ip_json, unique
from tests.live.test_lab import state_dir  # noqa: F401 - autouse: a lab state folder of its own
from vnet_tui.lab import bulk, lab
from vnet_tui.lab.nl import NetlinkError
from vnet_tui.net.netns import open_netns

pytestmark = pytest.mark.live


def _here() -> tuple[int, int]:
    st = os.stat("/proc/thread-self/ns/net")
    return st.st_dev, st.st_ino


def test_a_labs_veths_have_one_queue_each_way_and_loopback_is_up():
    with lab(unique(), containers=2, vms=0) as info:
        for c in info.containers:
            guest = ip_json("-d", "link", "show", c.ifname, netns=c.netns)[0]
            host = ip_json("-d", "link", "show", c.host_ifname, netns=info.host_netns)[0]
            assert (guest["num_tx_queues"], guest["num_rx_queues"]) == (1, 1)
            assert (host["num_tx_queues"], host["num_rx_queues"]) == (1, 1)
            assert host["master"] == c.bridge and "UP" in host["flags"] and "UP" in guest["flags"]
            lo = ip_json("link", "show", "lo", netns=c.netns)[0]
            assert "UP" in lo["flags"]
            assert guest["ifindex"] == host["link_index"]  # the echo's peer index is the real one


def test_sockets_in_each_namespace_and_back_home():
    home = _here()
    with lab(unique(), containers=2, vms=0) as info:
        fds = [open_netns(c.netns) for c in info.containers]
        try:
            socks = bulk.sockets_in(fds)
            try:
                assert _here() == home
                for c, s in zip(info.containers, socks):
                    assert bulk.link_index(s, c.ifname) == ip_json("link", "show", c.ifname, netns=c.netns)[0]["ifindex"]
            finally:
                for s in socks:
                    s.close()
        finally:
            for fd in fds:
                os.close(fd)
    assert _here() == home


def test_a_refused_request_without_ack_is_named():
    with lab(unique(), containers=1, vms=0) as info:
        c = info.containers[0]
        fd = open_netns(c.netns)
        try:
            (s,) = bulk.sockets_in([fd])
            with s, pytest.raises(NetlinkError) as e:
                bulk.configure(s, [(bulk.set_up(1, "lo", ack=False), "loopback up"),
                                   (bulk.set_up(2, "nosuch0", ack=False), "nosuch0 up"),
                                   (bulk.new_addr(3, 1, "192.0.2.1/32"), "an address on lo")])
            assert e.value.what == "nosuch0 up"
            # the requests after the refused one still ran, in order
            assert "192.0.2.1/32" in {f"{a['local']}/{a['prefixlen']}"
                                      for a in ip_json("addr", "show", "lo", netns=c.netns)[0]["addr_info"]}
        finally:
            os.close(fd)
