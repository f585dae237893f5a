"""Every SAFETY.md input rule refuses a bad input and names its rule (pure: no kernel).

The plan-level rules run against the recorded lab topology, so the
names, MACs and addresses they check against are realistic.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vnet_tui.core.errors import InvalidInput, NotFound, VnetError
from vnet_tui.core.model import Topology
from vnet_tui.core.server import Server
from vnet_tui.ops import macs, names, planner, validate
from vnet_tui.ops.requests import AddRequest, DelRequest, SetRequest

TOPO = Topology.from_json(
    json.loads((Path(__file__).parent.parent / "data" / "topology_small.json").read_text())
)
SERVER = Server(lab="demo")


def rule_of(fn, *a, **kw) -> tuple[str, int]:
    with pytest.raises(VnetError) as e:
        fn(*a, **kw)
    return e.value.rule, e.value.code


@pytest.mark.parametrize("name", ["", "a" * 16, "-eth", ".x", "eth 1", "eth/1", "eth:1", "é1", "%d", ".."])
def test_ifname_rule(name: str) -> None:
    assert rule_of(validate.ifname, name) == ("ifname", 2)


def test_ifname_ok_and_taken() -> None:
    assert validate.ifname("veth101.15") == "veth101.15"
    assert validate.ifname("a" * 15) == "a" * 15
    assert rule_of(validate.ifname_free, "eth0", {"lo", "eth0"}, "ct101") == ("ifname-taken", 2)


@pytest.mark.parametrize(
    "text,rule",
    [
        ("c4:37:72:00:00", "mac-syntax"),
        ("c4:37:72:00:00:0g", "mac-syntax"),
        ("c4-37:72:00:00:01", "mac-syntax"),
        ("c43772000001", "mac-syntax"),
        ("00:00:00:00:00:00", "mac-zero"),
        ("01:00:5e:00:00:01", "mac-multicast"),
        ("ff:ff:ff:ff:ff:ff", "mac-broadcast"),
        ("C4:37:72:00:65:01", "mac-duplicate"),
    ],
)
def test_mac_rules(text: str, rule: str) -> None:
    taken = {"c4:37:72:00:65:01": "ct101/eth0"}
    assert rule_of(validate.mac, text, taken, []) == (rule, 2)


def test_mac_normalised_and_vendor_warning() -> None:
    w: list[str] = []
    assert validate.mac("C4-37-72-AB-CD-EF", {}, w) == "c4:37:72:ab:cd:ef" and not w
    assert validate.mac("02:00:00:00:00:01", {}, w) == "02:00:00:00:00:01" and not w
    validate.mac("00:1b:21:00:00:01", {}, w)
    assert w and "mac-vendor" in w[0]
    assert validate.mac("c4:37:72:00:65:01", {"c4:37:72:00:65:01": "x"}, [], own="c4:37:72:00:65:01")


@pytest.mark.parametrize(
    "text,rule",
    [
        ("198.18.5.1", "ip-syntax"),
        ("198.18.5/24", "ip-syntax"),
        ("nonsense/24", "ip-syntax"),
        ("198.18.5.1/33", "ipv4-prefix"),
        ("198.18.5.0/24", "ipv4-network-address"),
        ("198.18.5.255/24", "ipv4-broadcast-address"),
        ("198.18.5.3/30", "ipv4-broadcast-address"),
        ("0.1.2.3/8", "ipv4-reserved"),
        ("127.0.0.2/8", "ipv4-reserved"),
        ("224.0.0.1/4", "ipv4-reserved"),
        ("240.0.0.1/8", "ipv4-reserved"),
        ("255.255.255.255/32", "ipv4-reserved"),
        ("fd00::1/129", "ipv6-prefix"),
        ("::/64", "ipv6-unspecified"),
        ("ff02::1/64", "ipv6-multicast"),
        ("::1/128", "ipv6-loopback"),
    ],
)
def test_ip_rules(text: str, rule: str) -> None:
    assert rule_of(validate.ip, text) == (rule, 2)


def test_ip_edges_allowed() -> None:
    assert str(validate.ip("198.18.5.0/31")) == "198.18.5.0/31"
    assert str(validate.ip("198.18.5.0/32")) == "198.18.5.0/32"
    assert str(validate.ip("fd00:5654::5/64")) == "fd00:5654::5/64"


def test_ip_list_rules_and_overlap() -> None:
    assert rule_of(validate.ips_to_add, ["198.18.5.1/24", "198.18.5.1/16"], [], [], []) == ("ip-repeated", 2)
    assert rule_of(validate.ips_to_add, ["198.18.5.1/24"], ["198.18.5.1/24"], [], []) == ("ip-exists", 2)
    assert rule_of(validate.ips_to_delete, ["198.18.9.9"], ["198.18.5.1/24"]) == ("ip-absent", 2)
    assert rule_of(validate.ips_to_delete, ["198.18.5.1/16"], ["198.18.5.1/24"]) == ("ip-absent", 2)
    w: list[str] = []
    elsewhere = [
        ("198.18.5.2/24", "ct1", "ct1/eth0"),
        ("198.18.5.9/24", "host", "br0"),
        ("198.18.5.7/24", "ct2", "ct2/eth0"),
    ]
    validate.ips_to_add(["198.18.5.8/24"], [], elsewhere, w, ns="ct1")
    assert any("same namespace" in x for x in w)
    assert not any("br0" in x for x in w)  # a shared subnet across namespaces is what a bridge is for
    # the same address anywhere else on the server (another container, the bridge's gateway) is refused
    assert rule_of(validate.ips_to_add, ["198.18.5.7/24"], [], elsewhere, [], "ct1") == ("ip-duplicate", 2)
    assert rule_of(validate.ips_to_add, ["198.18.5.9/16"], [], elsewhere, [], "ct3") == ("ip-duplicate", 2)


def test_mtu_rules() -> None:
    assert rule_of(validate.mtu, 67, "veth", False, []) == ("mtu", 2)
    assert rule_of(validate.mtu, 65536, "veth", False, []) == ("mtu", 2)
    assert rule_of(validate.mtu, 65522, "tun", False, []) == ("mtu", 2)
    assert rule_of(validate.mtu, 1000, "veth", True, []) == ("mtu-ipv6", 2)
    assert validate.mtu(1000, "veth", False, []) == 1000
    assert validate.mtu(1280, "veth", True, []) == 1280
    w: list[str] = []
    validate.mtu_pair(1400, 1500, "veth101.0", w)
    assert "mtu-mismatch" in w[0]
    validate.mtu_pair(1500, 1500, "veth101.0", w)
    assert len(w) == 1


@pytest.mark.parametrize(
    "text,rule",
    [
        ("fe80::1/64", "ipv6-link-local"),
        ("fe80::1%eth0/64", "ip-scope-id"),
        ("fd00::1%2/64", "ip-scope-id"),
        ("::ffff:198.18.0.1/96", "ipv6-ipv4-mapped"),
        ("::ffff:c612:1/128", "ipv6-ipv4-mapped"),
        ("::198.18.0.1/96", "ipv6-ipv4-mapped"),
        ("198.18.0.1/0", "ip-prefix-zero"),
        ("fd00::1/0", "ip-prefix-zero"),
        ("198.18.0.1/\u00b94", "ip-syntax"),
        ("198.18.0.1/2\u2074", "ip-syntax"),
        ("198.18.0.1/\u0662\u0664", "ip-syntax"),
        ("\u0661\u0669\u0668.18.0.1/24", "ip-syntax"),
        ("198.18.0.1/0024", "ip-syntax"),
        ("198.18.0.1 /24", "ip-syntax"),
        ("fd00:5654::/64", "ipv6-network-address"),
        ("198.18.0.0/16", "ipv4-network-address"),
        ("198.18.255.255/16", "ipv4-broadcast-address"),
    ],
)
def test_ip_classes_refused(text: str, rule: str) -> None:
    assert rule_of(validate.ip, text) == (rule, 2)


@pytest.mark.parametrize("name,rule", [("eth1\n", "ifname"), ("all", "ifname-reserved"),
                                       ("default", "ifname-reserved"), ("ALL", "ifname-reserved"),
                                       ("eth\u00b9", "ifname"), ("\u0661", "ifname")])
def test_ifname_classes_refused(name: str, rule: str) -> None:
    assert rule_of(validate.ifname, name) == (rule, 2)


def test_generated_macs_never_collide() -> None:
    taken = {f"c4:37:72:00:00:{i:02x}" for i in range(256)}
    for _ in range(200):
        g, h = macs.guest_mac(taken), macs.host_mac(taken)
        assert g.startswith("c4:37:72:") and g not in taken
        assert h.startswith("fe:") and h not in taken
        assert validate.mac_syntax(g) == g


def test_default_names() -> None:
    assert names.next_eth(["lo", "eth0", "eth2"]) == "eth1"
    assert names.veth_host_name("ct101", "eth1", {"veth101.0"}) == "veth101.1"
    assert names.veth_host_name("ct101", "eth1", {"veth101.1"}) == "veth101.2"
    long = names.veth_host_name("ct123456789", "eth0", set())
    assert len(long) <= 15 and long.startswith("veth")
    web = names.veth_host_name("web", "eth0", set())
    assert len(web) <= 15 and validate.ifname(web)
    assert names.vme_name("0000c9a1", {"vme0000c9a1.0"}) == ("vme0000c9a1.1", 1)
    assert names.half_made_by(None, names.temp_name()) is not None


# -- plan-level rules on the recorded lab ------------------------------------------------
@pytest.mark.parametrize(
    "req,rule,code",
    [
        (AddRequest("ct999"), "target", 4),
        (AddRequest("ct101", ifname="eth0"), "ifname-taken", 2),
        (AddRequest("ct101", host_ifname="veth102.0"), "ifname-taken", 2),
        (AddRequest("ct101", ifname="bad name"), "ifname", 2),
        (AddRequest("ct101", mac="c4:37:72:00:66:01"), "mac-duplicate", 2),  # ct102's guest MAC
        (AddRequest("ct101", host_mac="c4:37:72:00:01:c9"), "mac-duplicate", 2),  # vm201's guest NIC
        (AddRequest("ct101", mac="c4:37:72:11:11:11", host_mac="c4:37:72:11:11:11"), "mac-duplicate", 2),
        (AddRequest("ct101", ips=["198.18.1.9/16"], bridge="br0", routed=True), "bridge-or-routed", 2),
        (AddRequest("ct101", routed=True), "routed-needs-ip", 2),
        (AddRequest("ct101", bridge="br9"), "bridge", 4),
        (AddRequest("ct101", bridge="veth102.0"), "bridge-kind", 2),
        (AddRequest("ct101", mtu=70000), "mtu", 2),
        (AddRequest("ct101", ips=["127.0.0.5/8"]), "ipv4-reserved", 2),
        (AddRequest("vm201", ips=["198.18.2.5/16"]), "vm-ip", 2),
        (AddRequest("vm201", routed=True), "vm-routed", 2),
        (AddRequest("vm201", ifname="eth1"), "vm-ifname", 2),
        (AddRequest("vm201", mtu=65535), "mtu", 2),
    ],
)
def test_add_rules(req: AddRequest, rule: str, code: int) -> None:
    assert rule_of(planner.plan_add, SERVER, TOPO, req) == (rule, code)


@pytest.mark.parametrize(
    "req,rule,code",
    [
        (SetRequest("ct101", "eth9", mtu=1400), "interface", 4),
        (SetRequest("ct101", "lo", mtu=1400), "not-an-adapter", 2),
        (SetRequest("ct101", "eth0"), "nothing-to-change", 2),
        (SetRequest("ct101", "eth0", mtu=1500), "nothing-to-change", 2),
        (SetRequest("ct101", "eth0", add_ips=["198.18.1.1/16"]), "ip-exists", 2),
        (SetRequest("ct101", "eth0", del_ips=["198.18.9.9/16"]), "ip-absent", 2),
        (SetRequest("ct101", "eth0", mac="c4:37:72:00:66:01"), "mac-duplicate", 2),
        (SetRequest("ct101", "eth0", bridge="br0"), "bridge-guest-end", 2),
        (SetRequest("ct101", "veth101.0", bridge="br0", no_bridge=True), "bridge-or-nobridge", 2),
        (SetRequest("ct101", "eth0", end="side", mtu=1400), "end", 2),
        (SetRequest("vm201", "net0", end="guest", mac="c4:37:72:99:99:99"), "vm-guest-mac-live", 2),
        (SetRequest("vm201", "net0", end="guest", mtu=1400), "vm-guest-end", 2),
        (SetRequest("vm201", "net0", mtu=65530), "mtu", 2),
        (SetRequest("vm201", "net0", end="host", add_ips=["198.18.2.5/16"]), "vm-ip", 2),
        # a guest's own addresses go through its guest agent: only a lab VM's is vnet-tui's to talk to
        (SetRequest("vm201", "net0", add_ips=["198.18.2.5/16"]), "guest-agent-not-ours", 3),
    ],
)
def test_edit_rules(req: SetRequest, rule: str, code: int) -> None:
    assert rule_of(planner.plan_edit, SERVER, TOPO, req) == (rule, code)


def test_a_full_bridge_is_refused_before_anything_is_made() -> None:
    """BR_MAX_PORTS: the 1,025th port would fail in the kernel after the veth exists."""
    import dataclasses

    from vnet_tui.core.model import Interface
    from vnet_tui.ops.facts import BR_MAX_PORTS

    host = TOPO.host
    ports = sum(1 for i in host.interfaces if i.master == "br0")
    filler = [Interface(ifname=f"fill{n}", ifindex=10_000 + n, kind="veth", mac="", mtu=1500, state="up",
                        master="br0") for n in range(BR_MAX_PORTS - ports)]
    full = dataclasses.replace(TOPO, host=dataclasses.replace(host, interfaces=host.interfaces + filler))
    assert rule_of(planner.plan_add, SERVER, full, AddRequest("ct101", bridge="br0")) == ("bridge-full", 2)
    assert rule_of(planner.plan_add, SERVER, full, AddRequest("vm201", bridge="br0")) == ("bridge-full", 2)
    # one port fewer: there is room
    room = dataclasses.replace(TOPO, host=dataclasses.replace(host, interfaces=host.interfaces + filler[1:]))
    assert planner.plan_add(SERVER, room, AddRequest("ct101", bridge="br0")).steps


def test_delete_rules() -> None:
    assert rule_of(planner.plan_delete, SERVER, TOPO, DelRequest("ct101", "eth7")) == ("interface", 4)
    assert rule_of(planner.plan_delete, SERVER, TOPO, DelRequest("nobody", "eth0")) == ("target", 4)


def test_plans_render_commands_without_the_kernel() -> None:
    p = planner.plan_add(
        SERVER,
        TOPO,
        AddRequest(
            "ct101", ips=["198.18.1.50/16", "fd00:5654::1:50/64"], bridge="br0", mac="c4:37:72:aa:bb:cc"
        ),
    )
    text = "\n".join(p.commands())
    assert "ip -n vl-demo-host link add veth101.1" in text and "netns vl-demo-ct101" in text
    assert (
        "address c4:37:72:aa:bb:cc" in text and "ip -n vl-demo-ct101 addr add 198.18.1.50/16 dev eth1" in text
    )
    assert "master br0" in text
    e = planner.plan_edit(SERVER, TOPO, SetRequest("ct101", "veth101.0", mtu=9000, no_bridge=True))
    assert e.commands() == [
        "ip -n vl-demo-host link set dev veth101.0 mtu 9000",
        "ip -n vl-demo-host link set dev veth101.0 nomaster",
    ]
    v = planner.plan_add(SERVER, TOPO, AddRequest("vm201", bridge="br0"))
    assert any(
        c.startswith("qmp vm201 device_add") and '"driver":"virtio-net-pci"' in c for c in v.commands()
    )
    assert any("tuntap add dev vme0000c9a1.1 mode tap" in c for c in v.commands())
    with pytest.raises(InvalidInput):
        planner.plan_edit(SERVER, TOPO, SetRequest("ct101", "eth0", up=True))  # already up: nothing to do
    with pytest.raises(NotFound):
        planner.plan_add(SERVER, TOPO, AddRequest("ct101", bridge="nope"))


HOSTILE = [
    "", " ", "\n", "eth1\n", "\teth1", "all", "default", "[bold]x", "\x1b[31m", "\u202eeth", "\udc9b", "é", "eth\u00b9",
    "\u0661", "a" * 16, "a" * 10000, "%s", "{0}", "../x", "eth0 ", "-1", "0", "1e400", "nan", "inf", "None", "null",
    "fe80::1/64", "fe80::1%eth0/64", "::ffff:198.18.0.1/128", "::198.18.0.1/96", "198.18.0.1/0", "198.18.0.1/²4",
    "198.18.0.1/٢٤", "198.18.0.1/-1", "198.18.0.1/+24", "198.18.0.1/24/24", "198.18.0.1//24", "198.18.0.01/24",
    "0x7f.1/8", "1/1", "::/0", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "01:00:5e:00:00:01", "c4:37:72:00:00:0g",
    "c4-37:72:00:00:01", "C4:37:72:AA:BB:CC", "c4:37:72:aa:bb:cc\n", "c4:37:72:aa:bb:cc:dd", "c43772aabbcc",
]


@pytest.mark.parametrize("field", ["ifname", "host_ifname", "mac", "host_mac", "ips", "bridge"])
def test_hostile_add_input_is_refused_with_a_rule_or_planned(field: str) -> None:
    """Every hostile value in every field: planned, or refused with a named rule — never another exception."""
    for value in HOSTILE:
        req = AddRequest("ct101", **{field: [value] if field == "ips" else value})
        try:
            planner.plan_add(SERVER, TOPO, req)
        except VnetError as e:
            assert e.rule and e.code in (2, 4), (field, value, e)


@pytest.mark.parametrize("field", ["mac", "add_ips", "del_ips", "bridge", "ifname", "end"])
def test_hostile_edit_input_is_refused_with_a_rule_or_planned(field: str) -> None:
    for value in HOSTILE:
        if field == "ifname":
            req = SetRequest("ct101", value, mtu=1400)
        else:
            req = SetRequest("ct101", "eth0", **{field: [value] if field.endswith("ips") else value})
        try:
            planner.plan_edit(SERVER, TOPO, req)
        except VnetError as e:
            assert e.rule and e.code in (2, 4), (field, value, e)


@pytest.mark.parametrize("mtu", [-1, 0, 67, 1279, 65536, 10**100, True, 1.5, "1500"])
def test_hostile_mtu_is_refused_with_a_rule(mtu: object) -> None:
    with pytest.raises(VnetError) as e:
        planner.plan_add(SERVER, TOPO, AddRequest("ct101", mtu=mtu, ips=["fd00:5654::77/64"]))  # type: ignore[arg-type]
    assert e.value.rule in ("mtu", "mtu-ipv6")
