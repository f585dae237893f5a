"""Policy input rules: every bad input named by its rule; units as tc(8) reads them."""

from __future__ import annotations

import pytest

from vnet_tui.core.errors import InvalidInput
from vnet_tui.policy import validate as v


@pytest.mark.parametrize("text,bps", [
    ("10mbit", 10_000_000), ("1gbit", 1_000_000_000), ("500kbit", 500_000), ("1.5mbit", 1_500_000),
    ("64kibit", 65_536), ("125kbps", 1_000_000), ("8000", 8_000), (10_000_000, 10_000_000), ("10MBIT", 10_000_000),
    ("1000007", 1_000_000),  # whole bytes per second
])
def test_rates(text, bps):
    assert v.rate(text) == bps


@pytest.mark.parametrize("text,rule", [
    ("10 parsecs", "rate-syntax"), ("fast", "rate-syntax"), ("-5mbit", "rate-syntax"), ("", "rate-syntax"),
    ("10mb", "rate-syntax"),  # a size, not a rate
    ("1bit", "rate-range"), ("0", "rate-range"), ("2tbit", "rate-range"), (True, "rate-syntax"),
])
def test_bad_rates(text, rule):
    with pytest.raises(InvalidInput) as e:
        v.rate(text)
    assert e.value.rule == rule and e.value.code == 2


@pytest.mark.parametrize("text,n", [("32kb", 32768), ("1mb", 1 << 20), ("1514", 1514), ("64kbit", 8000), ("2k", 2048)])
def test_sizes(text, n):
    assert v.size(text) == n


def test_bursts():
    assert v.burst(None, 10_000_000) == 15_140  # ten full frames at MTU 1500
    assert v.burst(None, 1_000_000_000) == 1_250_000  # 10 ms of traffic
    assert v.burst("64kb", 10_000_000) == 65_536
    for text, rule in [("1000", "burst-too-small"), ("lots", "burst-syntax"), ("2gb", "burst-range")]:
        with pytest.raises(InvalidInput) as e:
            v.burst(text, 10_000_000)
        assert e.value.rule == rule
    with pytest.raises(InvalidInput) as e:
        v.burst("1mb", 8_000)  # 1,048 s at 8 kbit/s: more than tbf's ticks can hold
    assert e.value.rule == "burst-too-long"
    assert v.burst("9000", 10_000_000, mtu=8986) == 9000
    with pytest.raises(InvalidInput):
        v.burst("9000", 10_000_000, mtu=9000)


@pytest.mark.parametrize("text,rule", [
    ("c4:37:72:00:09", "mac-syntax"), ("c4:37:72-00:09:01", "mac-syntax"), ("zz:37:72:00:09:01", "mac-syntax"),
    ("ff:ff:ff:ff:ff:ff", "mac-broadcast"), ("00:00:00:00:00:00", "mac-zero"), ("01:00:5e:00:00:01", "mac-multicast"),
])
def test_bad_macs(text, rule):
    with pytest.raises(InvalidInput) as e:
        v.mac(text)
    assert e.value.rule == rule


def test_macs_normalised():
    assert v.mac("C4-37-72-00-09-01") == "c4:37:72:00:09:01"


def test_addresses():
    assert v.addresses(["fd00::2/64", "198.18.9.2/24", "198.18.9.2", "198.18.8.0/29"]) == \
        ["198.18.8.0/29", "198.18.9.2", "fd00::2"]
    for texts, rule in [([], "ip-filter-empty"), ([" "], "ip-filter-empty"), (["300.1.1.1"], "ip-filter-syntax"),
                        (["0.0.0.0"], "ip-filter-address"), (["::1"], "ip-filter-address"),
                        (["224.0.0.1"], "ip-filter-address"), (["ff02::1"], "ip-filter-address"),
                        (["255.255.255.255"], "ip-filter-address"), (["eth0"], "ip-filter-syntax")]:
        with pytest.raises(InvalidInput) as e:
            v.addresses(texts)
        assert e.value.rule == rule, texts


def test_vlans():
    assert v.vlan_id("10") == 10 and v.vlan_id(4094) == 4094
    assert v.vlan_list("20,10,30-32,10") == [10, 20, 30, 31, 32]
    assert v.vlan_list([5, "6"]) == [5, 6]
    for bad, rule in [("0", "vlan-range"), ("4095", "vlan-range"), ("x", "vlan-syntax"), ("-1", "vlan-range"), ("1.5", "vlan-syntax")]:
        with pytest.raises(InvalidInput) as e:
            v.vlan_id(bad)
        assert e.value.rule == rule
    for bad, rule in [("30-20", "vlan-range"), ("", "vlan-syntax"), ("1-5000", "vlan-range"), ("a-b", "vlan-syntax")]:
        with pytest.raises(InvalidInput) as e:
            v.vlan_list(bad)
        assert e.value.rule == rule


def test_off():
    assert all(v.is_off(x) for x in (None, "", "off", "None", " no "))
    assert not any(v.is_off(x) for x in ("10mbit", 0, "on"))
