"""The nftables rules we write read back to the values they were made from; their text says the same."""

from __future__ import annotations

import pytest

from vnet_tui.core.errors import InvalidInput
from vnet_tui.policy import nftrules, probe


def as_listing(cmds):
    """What ``list table`` would answer for these add commands (the shape nft -j lists)."""
    out = []
    for c in cmds:
        add = c.get("add", {})
        if "chain" in add:
            out.append({"chain": dict(add["chain"])})
        if "rule" in add:
            out.append({"rule": dict(add["rule"])})
    return out


def test_mac_chain_round_trip():
    ch = nftrules.port_chains(as_listing(nftrules.set_chain("mac", "veth9.0", "c4:37:72:00:09:01")), "veth9.0")
    assert list(ch) == ["mac"] and nftrules.mac_of(ch["mac"]) == "c4:37:72:00:09:01"
    assert [r["comment"] for r in ch["mac"]["rules"]] == ["mac", "arp-mac"]


def test_ip_chain_round_trip_leaves_out_the_always_allowed():
    addrs = ["198.18.8.0/29", "198.18.9.2", "fd00::2"]
    ch = nftrules.port_chains(as_listing(nftrules.set_chain("ip", "veth9.0", addrs)), "veth9.0")
    assert nftrules.addrs_of(ch["ip"]) == addrs
    assert [r["comment"] for r in ch["ip"]["rules"]] == ["vlan-tagged", "ipv4", "arp-ip", "ipv6", "nd-target"]


def test_rate_chain_round_trip():
    ch = nftrules.port_chains(as_listing(nftrules.set_chain("rate", "vme0000c9a1.0", (1_000_000, 16_384))),
                              "vme0000c9a1.0")
    assert nftrules.limit_of(ch["rate"]) == (1_000_000, 16_384)


def test_another_ports_chains_are_not_this_ports():
    listing = as_listing(nftrules.set_chain("mac", "veth9.0", "c4:37:72:00:09:01")
                         + nftrules.set_chain("mac", "veth9.01", "c4:37:72:00:09:02"))
    assert nftrules.mac_of(nftrules.port_chains(listing, "veth9.0")["mac"]) == "c4:37:72:00:09:01"
    assert nftrules.mac_of(nftrules.port_chains(listing, "veth9.01")["mac"]) == "c4:37:72:00:09:02"
    assert nftrules.port_chains(listing, "veth9") == {}


def test_delete_takes_the_ports_table_with_its_last_chain():
    assert nftrules.delete_chain("mac", "a", ["mac_a"]) == [{"delete": {"table": {"family": "netdev",
                                                                                   "name": "vnet_tui_a"}}}]
    assert "chain" in nftrules.delete_chain("mac", "a", ["mac_a", "ip_a"])[0]["delete"]


def test_text_names_the_device_and_the_values():
    t = nftrules.text_set("rate", "veth9.0", (125_000, 15_140))
    assert t.startswith("add table netdev vnet_tui_veth9.0; add chain netdev vnet_tui_veth9.0 rate_veth9.0 {")
    assert 'device "veth9.0" priority -100' in t
    assert "limit rate over 125000 bytes/second burst 15140 bytes counter drop" in t
    t = nftrules.text_set("ip", "veth9.0", ["198.18.9.2", "fd00::2"])
    assert "ip saddr != { 0.0.0.0, 198.18.9.2 }" in t and "ip6 saddr != { ::, fe80::/10, fd00::2 }" in t


def test_require_names_the_kernel_option():
    feats = probe.features()
    assert set(feats) == set(probe.FEATURES)
    missing = [f for f, ok in feats.items() if not ok]
    for f in missing:
        with pytest.raises(InvalidInput) as e:
            probe.require(f)
        assert e.value.rule == f"kernel-lacks-{f}"
        assert any(o in str(e.value) for o in probe.FEATURES[f][0])
    for f in feats:
        if feats[f]:
            probe.require(f)
