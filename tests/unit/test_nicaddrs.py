"""A guest agent's NIC entry read as the VMs pane and the address plans read it."""

from vnet_tui.guest.nicaddrs import nic_addresses


def test_addresses_sorted_link_local_v6_left_out_and_odd_entries_skipped():
    item = {"name": "eth0", "hardware-address": "52:54:00:12:34:56", "ip-addresses": [
        {"ip-address-type": "ipv6", "ip-address": "fe80::5054:ff:fe12:3456", "prefix": 64},
        {"ip-address-type": "ipv4", "ip-address": "198.18.5.2", "prefix": 16},
        {"ip-address-type": "ipv6", "ip-address": "fd00:5654::5:2", "prefix": 64},
        {"ip-address-type": "ipv4", "ip-address": "10.0.0.1", "prefix": 8},
        {"ip-address-type": "ipv4", "ip-address": "not-an-address", "prefix": 8},
        {"ip-address-type": "ipv4"},
    ]}
    assert nic_addresses(item) == ["10.0.0.1/8", "198.18.5.2/16", "fd00:5654::5:2/64"]


def test_a_nic_without_addresses():
    assert nic_addresses({"name": "eth1"}) == []
    assert nic_addresses({"name": "eth1", "ip-addresses": None}) == []
