"""read.py against policies set by hand with tc/bridge/nft, as an Incus or libvirt host would have them."""

from __future__ import annotations

import json

import pytest

from tests.live.test_policy_helpers import GUEST_MAC, plab, sh, views  # noqa: F401
from vnet_tui.core.errors import InvalidInput
from vnet_tui.policy import plan, probe, read
from vnet_tui.policy.port import Port

pytestmark = pytest.mark.live


def test_a_clean_port_reads_as_no_policy(plab):
    with Port(plab.host, plab.port) as p:
        got = read.read(p)
    json.dumps(got)  # JSON-able
    assert got["ifname"] == "veth9.0" and got["kind"] == "veth"
    assert got["link"] == {"admin_up": True, "carrier": True, "operstate": "up", "cable": "plugged"}
    assert got["bridge_port"]["master"] == "br0" and got["bridge_port"]["isolated"] is False
    assert got["bridge_port"]["unicast_flood"] is True and got["bridge_port"]["learning"] is True
    assert got["root_qdisc"]["default"] is True
    for key in ("rate_in", "rate_out", "ingress", "mac_filter", "ip_filter", "vlans"):
        assert got[key] is None, key


def test_hand_made_shaping_and_port_flags_appear(plab):
    h, dev = plab.host, plab.port
    sh("tc", "-n", h, "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "1")
    sh("tc", "-n", h, "class", "add", "dev", dev, "parent", "1:", "classid", "1:1", "htb", "rate", "5mbit",
       "ceil", "6mbit", "burst", "15k")
    sh("ip", "-n", h, "link", "add", "ifb9", "type", "ifb")
    sh("ip", "-n", h, "link", "set", "ifb9", "up")
    sh("tc", "-n", h, "qdisc", "add", "dev", "ifb9", "root", "tbf", "rate", "3mbit", "burst", "20k", "latency", "40ms")
    sh("tc", "-n", h, "qdisc", "add", "dev", dev, "ingress")
    sh("tc", "-n", h, "filter", "add", "dev", dev, "parent", "ffff:", "protocol", "all", "u32", "match", "u32", "0",
       "0", "action", "mirred", "egress", "redirect", "dev", "ifb9")
    sh("bridge", "-n", h, "link", "set", "dev", dev, "isolated", "on", "learning", "off", "flood", "off")
    with Port(h, dev) as p:
        got = read.read(p)
    ri = got["rate_in"]
    assert (ri["mechanism"], ri["ours"], ri["rate_bps"]) == ("htb", False, 5_000_000)
    assert ri["classes"][0]["classid"] == "1:1" and ri["classes"][0]["ceil_bps"] == 6_000_000
    assert got["root_qdisc"] == {"kind": "htb", "handle": "1:", "ours": False, "default": False}
    [flt] = got["ingress"]["filters"]
    assert flt["kind"] == "u32"
    assert [(a["kind"], a["action"], a["direction"], a["to"]) for a in flt["actions"]] == \
        [("mirred", "redirect", "egress", "ifb9")]
    ro = got["rate_out"]
    assert (ro["mechanism"], ro["via"], ro["rate_bps"], ro["ours"]) == ("ifb", "ifb9", 3_000_000, False)
    assert abs(ro["burst_bytes"] - 20 * 1024) <= 64
    bp = got["bridge_port"]
    assert (bp["isolated"], bp["learning"], bp["unicast_flood"]) == (True, False, False)
    # someone else's shaping is never overwritten: refused, nothing changed
    before = views(h, dev)
    with Port(h, dev) as p:
        with pytest.raises(InvalidInput) as e:
            plan.plan(p, {"rate_in": "10mbit"})
        assert e.value.rule == "rate-in-foreign-qdisc"
        with pytest.raises(InvalidInput) as e:
            plan.plan(p, {"rate_out": "10mbit"})
        assert e.value.rule == "rate-out-foreign"
    assert views(h, dev) == before


def test_hand_made_tbf_and_nft_chains_in_our_table_appear(plab):
    h, dev = plab.host, plab.port
    sh("tc", "-n", h, "qdisc", "add", "dev", dev, "root", "handle", "5654:", "tbf", "rate", "7mbit", "burst", "9000",
       "latency", "50ms")
    script = (f'add table netdev vnet_tui; add chain netdev vnet_tui mac_{dev} {{ type filter hook ingress device '
              f'"{dev}" priority -300; policy accept; }}; add rule netdev vnet_tui mac_{dev} ether saddr != '
              f'{GUEST_MAC} counter drop comment "mac"')
    sh("ip", "netns", "exec", h, "nft", script.replace("vnet_tui", f"vnet_tui_{dev}"))
    with Port(h, dev) as p:
        got = read.read(p)
    assert got["rate_in"]["rate_bps"] == 7_000_000 and got["rate_in"]["ours"] is True
    assert abs(got["rate_in"]["burst_bytes"] - 9000) <= 16
    assert got["mac_filter"] == {"mac": GUEST_MAC, "dropped": {"mac": {"packets": 0, "bytes": 0}}}
    assert got["nft"] == {"table": f"netdev vnet_tui_{dev}", "chains": {"mac": f"mac_{dev}"}}


def test_read_many_reads_each_port_of_a_namespace(plab):
    sh("bridge", "-n", plab.host, "link", "set", "dev", plab.other_port, "isolated", "on")
    got = read.read_many(plab.host, [plab.port, plab.other_port])
    assert got[plab.port]["bridge_port"]["isolated"] is False
    assert got[plab.other_port]["bridge_port"]["isolated"] is True


def _without_counters(v):
    """A read with the counters that move on their own (traffic, IPv6 DAD) left out."""
    if isinstance(v, dict):
        return {k: _without_counters(x) for k, x in v.items()
                if k not in ("bytes", "packets", "drops", "overlimits", "backlog", "carrier", "operstate")}
    if isinstance(v, list):
        return [_without_counters(x) for x in v]
    return v


def test_read_many_from_two_dumps_reads_as_each_port_alone(plab):
    """read_many answers every port from one link dump and one qdisc dump: the same as one port's read."""
    h, dev, other = plab.host, plab.port, plab.other_port
    sh("tc", "-n", h, "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "1")
    sh("tc", "-n", h, "class", "add", "dev", dev, "parent", "1:", "classid", "1:1", "htb", "rate", "5mbit")
    sh("ip", "-n", h, "link", "add", "ifb7", "type", "ifb")
    sh("ip", "-n", h, "link", "set", "ifb7", "up")
    sh("tc", "-n", h, "qdisc", "add", "dev", "ifb7", "root", "tbf", "rate", "3mbit", "burst", "20k", "latency", "40ms")
    sh("tc", "-n", h, "qdisc", "add", "dev", other, "ingress")
    sh("tc", "-n", h, "filter", "add", "dev", other, "parent", "ffff:", "protocol", "all", "u32", "match", "u32", "0",
       "0", "action", "mirred", "egress", "redirect", "dev", "ifb7")
    sh("ip", "-n", h, "link", "add", "down7", "type", "veth", "peer", "name", "down7p")  # down: no qdisc of its own
    names = [dev, other, "ifb7", "br0", "down7", "lo"]
    many = read.read_many(h, names)
    for name in names:
        with Port(h, name) as p:
            alone = read.read(p)
        assert _without_counters(many[name]) == _without_counters(alone), name
    assert many[dev]["rate_in"]["mechanism"] == "htb" and many["ifb7"]["rate_in"]["mechanism"] == "tbf"
    assert many[other]["rate_out"]["via"] == "ifb7"


def test_vlans_are_refused_here_before_anything_is_read_or_changed(plab):
    if probe.has("bridge-vlan-filtering"):
        pytest.skip("this kernel HAS bridge VLAN filtering: the refusal does not apply (test_policy_vlan runs)")
    before = views(plab.host, plab.port)
    with Port(plab.host, plab.port) as p:
        with pytest.raises(InvalidInput) as e:
            plan.plan(p, {"vlan": {"access": 10, "trunk": "20,30-32"}, "rate_in": "10mbit"})
    assert e.value.rule == "kernel-lacks-bridge-vlan-filtering"
    assert "CONFIG_BRIDGE_VLAN_FILTERING" in str(e.value)
    assert views(plab.host, plab.port) == before


def test_removing_an_adapter_removes_its_chains_which_the_kernel_would_keep(plab):
    h, dev = plab.host, plab.port
    from vnet_tui.policy import remove, steps
    from tests.live.test_policy_helpers import our_chains

    with Port(h, dev) as p:
        steps.apply(p, plan.plan(p, {"mac_filter": GUEST_MAC, "rate_out": "10mbit", "rate_in": "10mbit"}))
    with Port(h, plab.other_port) as p:
        steps.apply(p, plan.plan(p, {"mac_filter": "c4:37:72:00:08:01"}))
    sh("ip", "-n", h, "link", "del", dev)
    # the kernel dropped the qdisc with the device, but not the netdev chains bound to its name
    assert sorted(our_chains(h)) == ["mac_veth8.0", "mac_veth9.0", "rate_veth9.0"]
    with Port(h, dev) as p:
        assert remove.orphans(p.fd) == [dev]
        s = remove.remove(p)
        assert [x.setting for x in s] == ["mac_filter", "rate_out"]
        steps.apply(p, s)
        assert remove.orphans(p.fd) == []
    assert sorted(our_chains(h)) == ["mac_veth8.0"]  # the other port's filter stays


def test_a_renamed_host_end_keeps_its_filters_only_through_renamed(plab):
    """The kernel unhooks a name-bound netdev chain on rename; ``remove.renamed`` carries the policy over."""
    from vnet_tui.policy import remove, steps
    from tests.live.test_policy_helpers import our_tables

    h = plab.host
    with Port(h, plab.port) as p:
        steps.apply(p, plan.plan(p, {"mac_filter": GUEST_MAC, "ip_filter": ["198.18.9.2"], "rate_out": "10mbit"}))
        move = remove.renamed(p, "veth9.7")
    sh("ip", "-n", h, "link", "set", plab.port, "down")
    sh("ip", "-n", h, "link", "set", plab.port, "name", "veth9.7")
    sh("ip", "-n", h, "link", "set", "veth9.7", "up")
    with Port(h, "veth9.7") as p:
        assert read.read(p)["mac_filter"] is None  # nothing of ours is on the new name yet
        steps.apply(p, move)
        got = read.read(p)
        assert got["mac_filter"]["mac"] == GUEST_MAC and got["ip_filter"]["addrs"] == ["198.18.9.2"]
        assert got["rate_out"]["rate_bps"] == 10_000_000
        assert our_tables(h) == ["vnet_tui_veth9.7"]
        assert steps.rollback(p, move) == []
        assert our_tables(h) == ["vnet_tui_veth9.0"]
