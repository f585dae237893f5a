"""Each policy setting set, checked with the kernel's own tools, cleared, gone; other ports untouched."""

from __future__ import annotations

import pytest

from tests.helpers import ip_json
from tests.live.test_policy_helpers import (GUEST_MAC, GUEST_V4, GUEST_V6, bridge_port, our_chains, our_tables, plab,  # noqa: F401
                                            root_qdisc, views)
from vnet_tui.core.errors import InvalidInput
from vnet_tui.policy import plan, read, steps
from vnet_tui.policy.port import Port

pytestmark = pytest.mark.live


def apply(lb, **want):
    with Port(lb.host, lb.port) as p:
        s = plan.plan(p, want)
        steps.apply(p, s)
        return s


def test_rate_in_is_a_tbf_on_the_host_end_and_clears(plab):
    before = views(plab.host, plab.port)
    other = views(plab.host, plab.other_port)
    s = apply(plab, rate_in={"rate": "10mbit", "burst": "32kb"})
    assert [x.setting for x in s] == ["rate_in"]
    assert "tc -n %s qdisc replace dev veth9.0 root handle 5654: tbf rate 10000000bit burst 32768" % plab.host \
        in s[0].command
    q = root_qdisc(plab.host, plab.port)
    assert (q["kind"], q["handle"]) == ("tbf", "5654:")
    assert q["options"]["rate"] == 10_000_000 // 8  # tc -j gives bytes per second
    assert abs(q["options"]["burst"] - 32768) <= 64
    assert views(plab.host, plab.other_port) == other
    apply(plab, rate_in="off")
    assert root_qdisc(plab.host, plab.port)["kind"] == "noqueue"
    assert views(plab.host, plab.port) == before


def test_rate_out_is_an_nft_policer_at_the_host_ends_ingress_and_clears(plab):
    other = views(plab.host, plab.other_port)
    apply(plab, rate_out="8mbit")
    chains = our_chains(plab.host)
    assert list(chains) == ["rate_veth9.0"]
    ch = chains["rate_veth9.0"]["chain"]
    assert (ch["hook"], ch["type"], ch["prio"]) == ("ingress", "filter", -100)
    [rule] = chains["rate_veth9.0"]["rules"]
    lim = [e["limit"] for e in rule["expr"] if "limit" in e][0]
    assert (lim["rate"], lim["rate_unit"], lim["per"], lim["inv"]) == (1_000_000, "bytes", "second", True)
    assert {"drop": None} in rule["expr"]
    assert views(plab.host, plab.other_port) == other
    assert our_tables(plab.host) == ["vnet_tui_veth9.0"]
    apply(plab, rate_out=None)
    assert our_chains(plab.host) == {} and our_tables(plab.host) == []  # the table went with its last chain


def test_mac_and_ip_filters_are_chains_of_their_own(plab):
    apply(plab, mac_filter=GUEST_MAC, ip_filter=[GUEST_V4, f"{GUEST_V6}/64"])
    chains = our_chains(plab.host)
    assert sorted(chains) == ["ip_veth9.0", "mac_veth9.0"]
    mac_rules = {r["comment"]: r for r in chains["mac_veth9.0"]["rules"]}
    assert set(mac_rules) == {"mac", "arp-mac"}
    assert mac_rules["mac"]["expr"][0]["match"] == {"op": "!=", "left": {"payload": {"protocol": "ether",
                                                    "field": "saddr"}}, "right": GUEST_MAC}
    ip_rules = {r["comment"]: r for r in chains["ip_veth9.0"]["rules"]}
    assert set(ip_rules) == {"vlan-tagged", "ipv4", "arp-ip", "ipv6", "nd-target"}
    assert set(ip_rules["ipv4"]["expr"][0]["match"]["right"]["set"]) == {"0.0.0.0", GUEST_V4}
    assert GUEST_V6 in ip_rules["ipv6"]["expr"][0]["match"]["right"]["set"]
    with Port(plab.host, plab.port) as p:
        got = read.read(p)
    assert got["mac_filter"]["mac"] == GUEST_MAC and got["ip_filter"]["addrs"] == [GUEST_V4, GUEST_V6]
    apply(plab, mac_filter=None)
    assert sorted(our_chains(plab.host)) == ["ip_veth9.0"]
    apply(plab, ip_filter=None)
    assert our_chains(plab.host) == {} and our_tables(plab.host) == []


def test_isolated_sets_the_bridge_port_flags_and_clears(plab):
    other = bridge_port(plab.host, plab.other_port)
    apply(plab, isolated=True)
    bp = bridge_port(plab.host, plab.port)
    assert (bp["isolated"], bp["flood"]) == (True, False)
    assert bridge_port(plab.host, plab.other_port) == other
    apply(plab, isolated=False)
    bp = bridge_port(plab.host, plab.port)
    assert (bp["isolated"], bp["flood"]) == (False, True)


def test_cable_pulled_shows_as_no_carrier_in_the_guest_with_its_own_end_still_up(plab):
    s = apply(plab, cable=False)
    assert s[0].command == f"ip -n {plab.host} link set dev veth9.0 down"
    guest = ip_json("link", "show", "dev", "eth0", netns=plab.guest)[0]
    assert "UP" in guest["flags"] and "NO-CARRIER" in guest["flags"] and "LOWER_UP" not in guest["flags"]
    assert guest["operstate"] in ("LOWERLAYERDOWN", "DOWN")
    with Port(plab.host, plab.port) as p:
        assert read.read(p)["link"]["cable"] == "unplugged"
    apply(plab, cable=True)
    guest = ip_json("link", "show", "dev", "eth0", netns=plab.guest)[0]
    assert "LOWER_UP" in guest["flags"] and "NO-CARRIER" not in guest["flags"]


def test_changing_a_setting_and_its_inverse_restores_the_old_value(plab):
    apply(plab, rate_in="10mbit", rate_out="10mbit", mac_filter=GUEST_MAC)
    first = views(plab.host, plab.port)
    with Port(plab.host, plab.port) as p:
        s = plan.plan(p, {"rate_in": "20mbit", "rate_out": "30mbit", "mac_filter": "c4:37:72:00:09:99"})
        steps.apply(p, s)
        assert root_qdisc(plab.host, plab.port)["options"]["rate"] == 20_000_000 // 8
        assert views(plab.host, plab.port) != first
        assert steps.rollback(p, s) == []
    assert views(plab.host, plab.port) == first


def test_undo_plan_returns_to_a_read_snapshot(plab):
    apply(plab, rate_in="10mbit", isolated=True)
    with Port(plab.host, plab.port) as p:
        snap = read.settings(read.read(p))
        first = views(plab.host, plab.port)
        steps.apply(p, plan.plan(p, {"rate_in": None, "isolated": False, "ip_filter": [GUEST_V4], "cable": False}))
        steps.apply(p, plan.undo_plan(p, snap))
        assert read.settings(read.read(p)) == snap
    assert views(plab.host, plab.port) == first


def test_the_nftables_settings_go_in_one_transaction_and_undo_in_one(plab):
    with Port(plab.host, plab.port) as p:
        s = plan.plan(p, {"mac_filter": GUEST_MAC, "ip_filter": [GUEST_V4], "rate_out": "5mbit", "rate_in": "5mbit"})
        assert [x.setting for x in s] == ["mac_filter+ip_filter+rate_out", "rate_in"]
        assert s[0].command.startswith(f"ip netns exec {plab.host} nft 'add table netdev vnet_tui_veth9.0; ")
        steps.apply(p, s)
        assert sorted(our_chains(plab.host)) == ["ip_veth9.0", "mac_veth9.0", "rate_veth9.0"]
        assert s[0].inverse_command == f"ip netns exec {plab.host} nft 'delete chain netdev vnet_tui_veth9.0 " \
            "rate_veth9.0; delete chain netdev vnet_tui_veth9.0 ip_veth9.0; delete table netdev vnet_tui_veth9.0'"
        assert steps.rollback(p, s) == []
    assert our_tables(plab.host) == [] and root_qdisc(plab.host, plab.port)["kind"] == "noqueue"


def test_the_same_request_twice_plans_nothing(plab):
    want = {"rate_in": "10mbit", "rate_out": "5mbit", "mac_filter": GUEST_MAC, "ip_filter": [GUEST_V4],
            "isolated": True, "cable": True}
    apply(plab, **want)
    with Port(plab.host, plab.port) as p:
        assert plan.plan(p, want) == []
        assert read.summary(read.read(p)) == ["rate-in 10mbit", "rate-out 5mbit", "mac-filter", "ip-filter",
                                              "isolated", "no-flood"]


def test_a_bad_value_anywhere_changes_nothing(plab):
    before = views(plab.host, plab.port)
    with Port(plab.host, plab.port) as p:
        with pytest.raises(InvalidInput) as e:
            plan.plan(p, {"rate_in": "10mbit", "mac_filter": GUEST_MAC, "rate_out": "10 parsecs"})
    assert e.value.rule == "rate-syntax"
    assert views(plab.host, plab.port) == before
