import json

from vnet_tui.core.model import (
    VM,
    Container,
    Counters,
    Host,
    Interface,
    NetnsRef,
    Peer,
    Topology,
    VMNic,
)


def small_topology() -> Topology:
    host_end = Interface("veth101.0", 7, "veth", "fe:00:00:00:00:01", 1500, "up", ["198.18.0.1/16"], "br0",
                         Peer("container", "ct101", "vl-x-ct101", "eth0", 2), Counters(1, 2, 3, 4))
    tap = Interface("vme0000c9a1.0", 9, "tun", "fe:00:00:00:00:09", 1500, "up", [], "br0",
                    Peer("vm", "vm201", adapter="net0", mac="c4:37:72:00:00:09"))
    guest_end = Interface("eth0", 2, "veth", "c4:37:72:00:00:01", 1500, "up", ["198.18.1.1/16"], None,
                          Peer("host", None, "vl-x-host", "veth101.0", 7))
    return Topology(
        Host("vl-x-host", "lab x", [host_end, tap]),
        [Container("ct101", "netns", NetnsRef("vl-x-ct101", 4026532000, [42]), [guest_end])],
        [VM("vm201", 5151, False, "/run/x.qmp", [VMNic("net0", "c4:37:72:00:00:09", "vme0000c9a1.0")])],
    )


def test_json_shape_matches_cli_contract():
    d = small_topology().to_json()
    assert set(d) == {"host", "containers", "vms"}
    end = d["host"]["interfaces"][0]
    for key in ("ifname", "ifindex", "kind", "mac", "mtu", "state", "addresses", "master", "peer", "stats"):
        assert key in end
    assert end["peer"] == {"kind": "container", "owner": "ct101", "netns": "vl-x-ct101", "ifname": "eth0", "ifindex": 2}
    assert d["host"]["interfaces"][1]["peer"] == {"kind": "vm", "owner": "vm201", "adapter": "net0", "mac": "c4:37:72:00:00:09"}
    assert d["containers"][0]["netns"] == {"name": "vl-x-ct101", "inode": 4026532000, "pids": [42]}
    assert d["vms"][0]["adapters"][0] == {"id": "net0", "guest_mac": "c4:37:72:00:00:09", "host_ifname": "vme0000c9a1.0"}
    assert set(end["stats"]) == {"rx_bytes", "tx_bytes", "rx_packets", "tx_packets",
                                 "rx_errors", "tx_errors", "rx_dropped", "tx_dropped"}


def test_json_round_trip():
    t = small_topology()
    again = Topology.from_json(json.loads(json.dumps(t.to_json())))
    assert again.to_json() == t.to_json()


def test_adapters_pair_both_ends():
    ads = list(small_topology().adapters())
    assert [(a.kind, a.owner) for a in ads] == [("veth", "ct101"), ("vme", "vm201")]
    veth, vme = ads
    assert veth.guest.ifname == "eth0" and veth.host.ifname == "veth101.0"
    assert vme.host.ifname == "vme0000c9a1.0" and vme.vm_adapter.guest_mac == "c4:37:72:00:00:09"
    assert veth.key == "ct101/eth0" and vme.key == "vm201/net0"
