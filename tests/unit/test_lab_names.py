"""The lab's names, MACs and addresses are deterministic, unique and valid; its messages decode."""

from __future__ import annotations

import ipaddress

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from vnet_tui.core.errors import InvalidInput
from vnet_tui.lab import LabSpec, Namer, plan, qemu_argv
from vnet_tui.lab import nl
from vnet_tui.lab.names import MAX_CONTAINERS, MAX_VMS
from vnet_tui.lab.vms import VmFiles, check_socket_path

IFNAMSIZ = 15


def _macs(p) -> list[str]:
    return ([p.bridge_mac] + [c.mac for c in p.containers] + [c.host_mac for c in p.containers]
            + [v.guest_mac for v in p.vms] + [v.host_mac for v in p.vms])


def _is_unicast_local(mac: str) -> bool:
    first = int(mac.split(":")[0], 16)
    return not first & 1


def test_same_name_and_seed_give_the_same_lab():
    assert plan(LabSpec("demo", 50, 5, seed=7)) == plan(LabSpec("demo", 50, 5, seed=7))


def test_seed_changes_macs_not_names_or_addresses():
    a, b = plan(LabSpec("demo", 20, 2, seed=0)), plan(LabSpec("demo", 20, 2, seed=1))
    assert [c.mac for c in a.containers] != [c.mac for c in b.containers]
    assert [(c.name, c.netns, c.ipv4, c.ipv6, c.host_ifname) for c in a.containers] == \
           [(c.name, c.netns, c.ipv4, c.ipv6, c.host_ifname) for c in b.containers]


def test_a_small_lab_is_a_prefix_of_a_big_one():
    small, big = plan(LabSpec("x1", 3, 2)), plan(LabSpec("x1", 300, 20))
    assert small.containers == big.containers[:3]
    assert small.vms == big.vms[:2]


def test_names_follow_cli_md():
    p = plan(LabSpec("demo", 3, 2))
    assert p.host_netns == "vl-demo-host"
    assert [c.name for c in p.containers] == ["ct101", "ct102", "ct103"]
    assert [c.netns for c in p.containers] == ["vl-demo-ct101", "vl-demo-ct102", "vl-demo-ct103"]
    assert [c.host_ifname for c in p.containers] == ["veth101.0", "veth102.0", "veth103.0"]
    assert {c.ifname for c in p.containers} == {"eth0"}
    assert [v.name for v in p.vms] == ["vm201", "vm202"]
    assert {v.adapter for v in p.vms} == {"net0"}
    for v in p.vms:
        assert v.tap.startswith("vme") and v.tap.endswith(".0") and len(v.tap) == 13
        int(v.tap[3:11], 16)


def test_guest_and_host_macs():
    p = plan(LabSpec("demo", 100, 10))
    for c in p.containers:
        assert c.mac.startswith("c4:37:72:")
        assert c.host_mac.startswith("fe:")
    for v in p.vms:
        assert v.guest_mac.startswith("c4:37:72:")
        assert v.host_mac.startswith("fe:")
        assert v.host_mac != v.guest_mac
    assert p.bridge_mac.startswith("fe:")
    assert all(_is_unicast_local(m) or m.startswith("c4:37:72") for m in _macs(p))


def test_no_duplicate_mac_or_name_in_a_lab_of_1000():
    p = plan(LabSpec("big", 1000, MAX_VMS, seed=12345))
    macs = _macs(p)
    assert len(macs) == len(set(macs))
    names = [c.host_ifname for c in p.containers] + [v.tap for v in p.vms]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("seed", [0, 1, 99])
def test_no_duplicate_mac_in_the_largest_lab(seed):
    p = plan(LabSpec("zzzzzzzz", MAX_CONTAINERS, MAX_VMS, seed))
    macs = _macs(p)
    assert len(macs) == len(set(macs))


def test_interface_names_fit_15_bytes():
    p = plan(LabSpec("zzzzzzzz", MAX_CONTAINERS, MAX_VMS))
    for n in [c.host_ifname for c in p.containers] + [v.tap for v in p.vms] + ["eth0", "br0"]:
        assert 1 <= len(n.encode()) <= IFNAMSIZ, n


def test_addresses_stay_in_the_lab_ranges_and_are_unique():
    p = plan(LabSpec("zzzzzzzz", MAX_CONTAINERS, 0))
    v4net, v6net = ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("fd00:5654::/32")
    v4 = [ipaddress.ip_interface(c.ipv4) for c in p.containers]
    v6 = [ipaddress.ip_interface(c.ipv6) for c in p.containers]
    assert all(a.ip in v4net for a in v4) and all(a.ip in v6net for a in v6)
    assert len({a.ip for a in v4}) == len(v4) and len({a.ip for a in v6}) == len(v6)
    assert ipaddress.ip_address("198.18.0.1") not in {a.ip for a in v4}
    for a in v4:  # never the network or broadcast address of the /16
        assert a.ip not in (a.network.network_address, a.network.broadcast_address)


def test_vm_addresses_never_meet_a_container_address():
    p = plan(LabSpec("zzzzzzzz", MAX_CONTAINERS, MAX_VMS))
    cts = {ipaddress.ip_interface(c.ipv4).ip for c in p.containers} | {ipaddress.ip_interface(c.ipv6).ip
                                                                      for c in p.containers}
    vms = {ipaddress.ip_interface(v.ipv4).ip for v in p.vms} | {ipaddress.ip_interface(v.ipv6).ip for v in p.vms}
    assert len(vms) == 2 * MAX_VMS and not cts & vms
    assert p.vms[0].ipv4 == "198.18.200.1/16" and p.vms[0].ipv6 == "fd00:5654::200:1/64"


def test_boot_args_replace_the_pause():
    v = plan(LabSpec("demo", 0, 1)).vms[0]
    files = VmFiles("/s/q.qmp", "/s/l.log", "/s")
    argv = qemu_argv("qemu", v, files, boot=lambda vm, f: ["-kernel", f"{f.dir}/{vm.name}.vmlinuz"])
    assert "-S" not in argv and argv[-2:] == ["-kernel", "/s/vm201.vmlinuz"]


def test_readable_addresses():
    n = Namer("demo")
    assert n.container_ipv4(101) == "198.18.0.101/16"
    assert n.container_ipv6(101) == "fd00:5654::101/64"
    assert n.container_ipv4(1100) == "198.18.4.76/16"
    assert n.container_ipv6(1100) == "fd00:5654::4:76/64"


def test_different_labs_get_different_macs():
    a, b = plan(LabSpec("aaa", 10, 1)), plan(LabSpec("bbb", 10, 1))
    assert not set(_macs(a)) & set(_macs(b))


@pytest.mark.parametrize("spec, rule", [
    (LabSpec("Demo"), "lab-name"), (LabSpec("toolong12"), "lab-name"), (LabSpec(""), "lab-name"),
    (LabSpec("a-b"), "lab-name"), (LabSpec("ok", containers=MAX_CONTAINERS + 1), "lab-size"),
    (LabSpec("ok", vms=MAX_VMS + 1), "lab-size"), (LabSpec("ok", containers=-1), "lab-size"),
    (LabSpec("ok", seed=-1), "lab-seed"),
])
def test_bad_specs_name_their_rule(spec, rule):
    with pytest.raises(InvalidInput) as e:
        spec.check()
    assert e.value.rule == rule and e.value.code == 2


def test_qemu_argv_is_paused_tcg_with_root_ports_and_net0():
    v = plan(LabSpec("demo", 0, 1)).vms[0]
    argv = qemu_argv("/usr/bin/qemu-system-x86_64", v, VmFiles("/s/vl-demo-vm201.qmp", "/s/vm201.log"))
    text = " ".join(argv)
    for part in ("-S", "-nodefaults", "-accel tcg", "-machine q35", "-m 64", "-display none",
                 "-name guest=vm201", "unix:/s/vl-demo-vm201.qmp,server=on,wait=off",
                 f"tap,id=net0,ifname={v.tap},script=no,downscript=no",
                 f"virtio-net-pci,netdev=net0,id=net0,mac={v.guest_mac},bus=rp1"):
        assert part in text
    assert text.count("pcie-root-port") >= 2
    assert "vl-demo-" in text  # the suite guard finds stray QEMUs of ours by this


def test_socket_path_limit():
    assert check_socket_path("/var/lib/vnet-tui/labs/zzzzzzzz/vl-zzzzzzzz-vm264.qmp")
    assert not check_socket_path("/" + "x" * 120)


def test_messages_decode_as_pyroute2_reads_them():
    m = ifinfmsg(nl.new_veth(7, "veth101.0", "fe:01:02:03:04:05", 9, "eth0", "c4:37:72:01:02:03", 42))
    m.decode()
    assert (m.get_attr("IFLA_IFNAME"), m.get_attr("IFLA_ADDRESS"), m.get_attr("IFLA_MASTER")) == \
           ("veth101.0", "fe:01:02:03:04:05", 9)
    assert m["flags"] & 1 and m["change"] & 1  # host end created up
    info = m.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "veth"
    peer = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert (peer.get_attr("IFLA_IFNAME"), peer.get_attr("IFLA_ADDRESS"), peer.get_attr("IFLA_NET_NS_FD")) == \
           ("eth0", "c4:37:72:01:02:03", 42)
    a = ifaddrmsg(nl.new_addr(3, 5, "fd00:5654::101/64"))
    a.decode()
    assert (a["prefixlen"], a["index"], a.get_attr("IFA_LOCAL"), a.get_attr("IFA_FLAGS")) == \
           (64, 5, "fd00:5654::101", nl.IFA_F_NODAD)
    a4 = ifaddrmsg(nl.new_addr(3, 5, "198.18.0.101/16"))
    a4.decode()
    assert (a4["prefixlen"], a4.get_attr("IFA_LOCAL")) == (16, "198.18.0.101")
    b = ifinfmsg(nl.new_bridge(3, "br0", "fe:00:01:00:00:01", 8192))
    b.decode()
    assert b.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA").get_attr("IFLA_BR_MCAST_HASH_MAX") == 8192
    q = ifinfmsg(nl.querier_on(4, "br0"))
    q.decode()
    assert q.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA").get_attr("IFLA_BR_MCAST_QUERIER") == 1
