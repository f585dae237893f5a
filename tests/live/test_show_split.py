"""``show`` with its work spread over processes and batches (issue 14: 5,000 containers).

Made small here: SPLIT_ABOVE is 2, so a handful of namespaces is "many".
What the split read, the batched nsid requests and the policies read
by a child while discovery runs give must be what the one-process,
one-request-at-a-time read gives.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import netns
from tests.ui.test_watcher import sh, strip
from vnet_tui.commands import show
from vnet_tui.core.server import Server
from vnet_tui.discovery import split, topology
from vnet_tui.discovery.topology import Discoverer, discover
from vnet_tui.policy import read as pread

pytestmark = pytest.mark.live


def _lab(host: str, guests: list[str]) -> None:
    sh("ip", "-n", host, "link", "add", "br0", "type", "bridge")
    for n, g in enumerate(guests, 1):
        sh("ip", "-n", host, "link", "add", f"veth{n}.0", "type", "veth", "peer", "name", "eth0", "netns", g)
        sh("ip", "-n", host, "link", "set", f"veth{n}.0", "master", "br0", "up")
        sh("ip", "-n", g, "addr", "add", f"198.18.0.{n}/24", "dev", "eth0")
        sh("ip", "-n", g, "link", "set", "eth0", "up")


def test_batched_nsid_requests_answer_as_one_at_a_time():
    with netns(6) as (host, *others):
        _lab(host, others[:4])  # others[4] has no link from the host: no nsid there
        with Discoverer(Server(netns=host)) as d:
            fds = [os.open(f"/run/netns/{n}", os.O_RDONLY) for n in others]
            r, w = os.pipe()  # not a namespace: the kernel refuses it
            try:
                one = [d.host.sock.nsid_of(fd) for fd in fds]
                assert all(i is not None for i in one[:4]) and one[4] is None
                assert d.host.sock.nsids_of(fds, batch=2) == one  # three sends, the last one short
                assert d.host.sock.nsids_of([fds[0], r, fds[1]]) == [one[0], None, one[1]]
            finally:
                for fd in (*fds, r, w):
                    os.close(fd)


@pytest.mark.parametrize("first_look", ["every namespace read", "the host asked"])
def test_the_split_read_is_the_one_process_read(monkeypatch, first_look):
    monkeypatch.setattr(split, "SPLIT_ABOVE", 2)
    if first_look == "every namespace read":
        monkeypatch.setattr(topology, "DEDUCE_ABOVE", 0)  # (as a host with thousands of peers)
    with netns(6) as (host, *guests):
        _lab(host, guests)
        whole = discover(Server(netns=host))
        parent_reads = []
        real = split.read_one
        monkeypatch.setattr(split, "read_one",
                            lambda ns: (parent_reads.append(ns.inode), real(ns))[1])
        began: list[int] = []
        real_split = split.SplitRead

        class Counted(real_split):  # type: ignore[misc,valid-type]
            def __init__(self, namespaces, *a, **k):
                began.append(len(namespaces))
                super().__init__(namespaces, *a, **k)

        monkeypatch.setattr(topology, "SplitRead", Counted)
        monkeypatch.setattr(split, "SplitRead", Counted)  # (read_all's)
        halves = discover(Server(netns=host), split=True)
        # this process reads (at most) the first half; the child's reads are not here.  A first look reads
        # every namespace but the host's (those with no veth to it only asked), the other way its containers
        assert len(began) == 1 and began[0] >= len(guests) and 0 < len(parent_reads) <= began[0] // 2
        if first_look == "the host asked":
            assert began[0] == len(guests) and len(parent_reads) == len(guests) // 2
        assert strip(halves) == strip(whole)
        assert sorted(c.name for c in halves.containers) == sorted(guests)
        assert all(i.peer is not None for i in halves.host.interfaces if i.ifname.startswith("veth"))


def _policies(data: dict) -> dict:
    return {i["ifname"]: i.get("policy") for i in data["host"]["interfaces"] if i["ifname"].startswith("veth")}


def test_show_takes_the_policies_a_child_read_and_reads_the_rest_itself(monkeypatch, capsys):
    with netns(4) as (host, *guests):
        _lab(host, guests)
        server = Server(netns=host)
        want = pread.read_many(host, [f"veth{n}.0" for n in range(1, 4)])
        assert set(pread.read_adapter_ports(host)) == set(want)  # the veths, not br0 or lo
        assert pread.read_adapter_ports(host) == want

        asked: list[list[str]] = []
        real = pread.read_many
        monkeypatch.setattr(pread, "read_many", lambda where, names: (asked.append(list(names)), real(where, names))[1])
        seen = []
        data = discover(server, on_host=seen.append).to_json()
        assert len(seen) == 1 and set(seen[0].raw_links) == {l.ifindex for l in seen[0].links}
        show.add_policies(server, data, show._adapter_policies(server, seen[0].raw_links))  # what the child sends
        assert _policies(data) == want and asked == []  # nothing left to read here

        data = discover(server).to_json()
        show.add_policies(server, data, {"veth1.0": want["veth1.0"]})  # a child that saw one port
        assert _policies(data) == want and asked == [["veth2.0", "veth3.0"]]

        data = discover(server).to_json()
        show.add_policies(server, data, show.FAILED)  # no child, or it failed
        assert _policies(data) == want

        # the command itself: the child's policies, the containers read by two processes
        out = subprocess.run([sys.executable, "-m", "vnet_tui", "show", "--netns", host, "--json"],
                             check=True, capture_output=True, text=True).stdout
        assert _policies(json.loads(out)) == want


def test_the_runtimes_scan_made_ahead_is_the_one_discovery_uses(monkeypatch):
    """``show`` has a child scan the runtimes while it reads the host and finds the namespaces: discovery
    takes that answer instead of scanning (the same picture); without one (the child failed) it scans."""
    from vnet_tui.core.forked import Forked
    from vnet_tui.discovery import topology
    from vnet_tui.owners.registry import Owners, scan_all

    with netns(3) as (host, *guests):
        _lab(host, guests)
        whole = discover(Server(netns=host))
        scans: list[int] = []
        monkeypatch.setattr(topology, "scan_all", lambda: (scans.append(1), scan_all())[1])
        asked: list[Owners] = []
        with Forked(scan_all) as child:
            def ahead() -> object:
                got = child.result()
                asked.append(got)
                return got

            made = discover(Server(netns=host), owners_ahead=ahead)
        assert len(asked) == 1 and isinstance(asked[0], Owners) and scans == []  # the child's, not a scan here
        assert strip(made) == strip(whole)
        assert [c.owner for c in made.containers] == [c.owner for c in whole.containers]
        failed = discover(Server(netns=host), owners_ahead=lambda: show.FAILED)
        assert scans == [1] and strip(failed) == strip(whole)
