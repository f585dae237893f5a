"""The watcher's shortcut (live/assemble.py: only the namespaces whose dumps changed) makes the very Topology a
whole assembly makes, and its ``change`` tells the truth: every object it does not name is the object of the
topology before.  Checked on a live namespace set, change after change, each shortcut against a whole assembly
of the same dumps."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import netns
from tests.live.test_shared_events import strip
from tests.ui.test_watcher import Recorder, pair, sh
from vnet_tui.core.server import Server
from vnet_tui.discovery.topology import discover
from vnet_tui.live import assemble

pytestmark = pytest.mark.live


def _checked(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    seen: dict[str, list[Any]] = {"short": [], "wrong": [], "fell_back": []}
    changed = assemble.Assembler._changed

    def checking(self: assemble.Assembler, touched: set[int], *args: Any) -> Any:
        before = self._last.topo if self._last is not None else None
        topo = changed(self, touched, *args)
        if topo is None:
            seen["fell_back"].append(set(touched))
            return None
        whole = assemble.assemble(*args)  # the one-shot assembly of the same dumps
        if topo != whole:
            seen["wrong"].append((touched, strip(topo), strip(whole)))
        seen["short"].append((before, topo))
        return topo

    monkeypatch.setattr(assemble.Assembler, "_changed", checking)
    return seen


def _claims_hold(before: Any, topo: Any) -> list[str]:
    """Every host end and container ``change`` does not name is the object of ``before``."""
    ch = topo.change
    bad = []
    for old, new in zip(before.host.interfaces, topo.host.interfaces):
        if new.ifindex not in ch.host and old is not new:
            bad.append(f"host end {new.ifname} new but not named")
    for old, new in zip(before.containers, topo.containers):
        if new.netns.inode not in ch.containers and old is not new:
            bad.append(f"container {new.name} new but not named")
    return bad


@pytest.mark.parametrize("patch_from", [assemble.PATCH_FROM, 1])
def test_only_what_changed_is_assembled_and_equals_the_whole(monkeypatch, patch_from):
    """(``patch_from`` 1: every namespace's dump is patched where it can be, as a host's of 64 links or more
    is; what a patch makes is held to the one-shot assembly like the rest.)"""
    seen = _checked(monkeypatch)
    monkeypatch.setattr(assemble, "PATCH_FROM", patch_from)
    patched: list[int] = []
    ends_patched = assemble.Assembler._ends_patched

    def counting(self: assemble.Assembler, inode: int, *args: Any) -> Any:
        got = ends_patched(self, inode, *args)
        if got is not None:
            patched.append(inode)
        return got

    monkeypatch.setattr(assemble.Assembler, "_ends_patched", counting)
    with netns(5) as (host, a, b, c, d):
        pair(host, [a, b, c, d])
        sh("ip", "-n", host, "link", "add", "x0", "type", "veth", "peer", "name", "x1")  # a pair inside the host
        with Recorder(host, interval=0.3) as r:
            def settle(what: str, cond: Any) -> None:
                r.wait(cond, what)

            def host_end(name: str) -> Any:
                return next(i for i in r.topos[-1][1].host.interfaces if i.ifname == name)

            def guest(ns_index: int) -> Any:
                return r.topos[-1][1].containers[ns_index].interfaces

            sh("ip", "-n", host, "link", "set", "veth2.0", "down")
            settle("host end down", lambda: host_end("veth2.0").state == "down")
            sh("ip", "-n", host, "link", "set", "veth2.0", "mtu", "1400")
            settle("host end mtu", lambda: host_end("veth2.0").mtu == 1400)
            sh("ip", "-n", b, "link", "set", "eth0", "down")
            settle("guest end down", lambda: any(i.state == "down" and i.ifname == "eth0"
                                                 for c in r.topos[-1][1].containers for i in c.interfaces))
            sh("ip", "-n", c, "addr", "add", "198.18.7.7/32", "dev", "eth0")
            settle("guest address", lambda: any("198.18.7.7/32" in i.addresses
                                                for x in r.topos[-1][1].containers for i in x.interfaces))
            sh("ip", "-n", host, "link", "set", "veth3.0", "nomaster")
            settle("off the bridge", lambda: host_end("veth3.0").master is None)
            sh("ip", "-n", host, "link", "set", "veth3.0", "master", "br0")
            settle("on the bridge", lambda: host_end("veth3.0").master == "br0")
            sh("ip", "-n", host, "link", "set", "x0", "up")
            settle("the host's own pair", lambda: host_end("x0").state != "down" or host_end("x1").state != "down"
                   or len(r.topos) > 8)
            sh("ip", "-n", host, "link", "set", "veth4.0", "alias", "seen")
            settle("alias", lambda: host_end("veth4.0").alias == "seen")
            sh("ip", "-n", host, "link", "set", "veth1.0", "name", "vethA")  # a rename: the whole picture
            settle("rename", lambda: any(i.ifname == "vethA" for i in r.topos[-1][1].host.interfaces))
            sh("ip", "-n", host, "link", "set", "vethA", "down")
            settle("renamed end down", lambda: host_end("vethA").state == "down")
            sh("ip", "-n", d, "link", "set", "eth0", "mtu", "1300")
            settle("guest mtu", lambda: any(i.mtu == 1300 for x in r.topos[-1][1].containers for i in x.interfaces))
            sh("ip", "-n", host, "link", "set", "br0", "down")
            settle("bridge down", lambda: host_end("br0").state == "down")
            r.wait(lambda: strip(r.topos[-1][1]) == strip(discover(Server(netns=host))), "the same picture as discovery")
            assert guest(0)  # the containers are there

    assert not seen["wrong"], seen["wrong"][0]
    assert len(seen["short"]) >= 8, f"the shortcut was taken {len(seen['short'])} times ({seen['fell_back']})"
    bad = [m for before, topo in seen["short"] if before is not None for m in _claims_hold(before, topo)]
    assert not bad, bad
    # a one-link change names what it changed, not the server's 8 ends and 4 containers (changes the recorder
    # had not taken yet arrive together: on a busy machine three or four of them)
    small = [t.change for _, t in seen["short"] if t.change is not None and t.change.after is not None]
    ends = len(seen["short"][-1][1].host.interfaces)
    assert small and all(len(ch.host) < ends and len(ch.containers) < 4 for ch in small), small
    assert any(len(ch.host) + len(ch.containers) == 1 for ch in small), small
    if patch_from == 1:
        assert len(patched) >= 8, patched  # the host's dump and the containers', change after change
    else:
        assert not patched  # (7 links: passed over, as before)


def test_after_a_rescan_the_next_assembly_is_whole(monkeypatch):
    """A rescan may rename or re-own containers in place even when it reports no change; the shortcut would
    not see that, so the next assembly after any rescan looks at everything."""
    import selectors

    from vnet_tui.discovery.topology import Discoverer
    from vnet_tui.live.structure import Structure

    shortcuts: list[Any] = []
    changed = assemble.Assembler._changed

    def counting(self: assemble.Assembler, touched: set[int], *args: Any) -> Any:
        shortcuts.append(set(touched))
        return changed(self, touched, *args)

    monkeypatch.setattr(assemble.Assembler, "_changed", counting)
    with netns(3) as (host, a, b):
        pair(host, [a, b])
        d = Discoverer(Server(netns=host))
        sel = selectors.DefaultSelector()
        s = Structure(d, sel)
        try:
            s.rescan_ns = s.rescan_vms = True
            s.dirty.add(s.host_inode)
            assert s.apply(force=True) is not None
            s.rescan_ns = True  # a periodic rescan that finds nothing new
            assert s.apply() is None and s.whole_next
            sh("ip", "-n", host, "link", "set", "veth1.0", "down")
            s.dirty.add(s.host_inode)  # (as an event would: the host's dump changed)
            topo = s.apply()
            assert topo is not None and not shortcuts, "a shortcut right after a rescan"
            assert topo.change is not None and topo.change.after is None  # a whole picture
            sh("ip", "-n", host, "link", "set", "veth1.0", "up")
            s.dirty.add(s.host_inode)
            topo = s.apply()
            assert topo is not None and shortcuts == [{s.host_inode}]  # and then the shortcut again
            assert topo.change.after is not None
        finally:
            s.close()
            sel.close()
            d.close()
