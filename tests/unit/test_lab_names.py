"""The lab's names, MACs and addresses are deterministic, unique and valid; its messages decode."""

from __future__ import annotations

import ipaddress

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from vnet_tui.core.errors import InvalidInput
from vnet_tui.lab import LabSpec, Namer, plan, qemu_argv
from vnet_tui.lab import nl
from vnet_tui.lab import names
from vnet_tui.lab.names import BR_MAX_PORTS, MAX_BRIDGES, MAX_CONTAINERS, MAX_VMS, bridge_split, bridges_needed
from vnet_tui.lab.vms import VmFiles, check_socket_path

IFNAMSIZ = 15


def _macs(p) -> list[str]:
    return ([b.mac for b in p.bridges] + [m for b in p.bridges[1:] for m in (b.uplink_mac, b.downlink_mac)]
            + [c.mac for c in p.containers] + [c.host_mac for c in p.containers]
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
    links = [n for b in plan(LabSpec("zzzzzzzz", 3, 0, bridges=MAX_BRIDGES)).bridges
             for n in (b.name, b.uplink, b.downlink) if n]
    for n in [c.host_ifname for c in p.containers] + [v.tap for v in p.vms] + ["eth0"] + links:
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


def ports(p) -> dict[str, int]:
    """Ports the lab puts on each bridge: host ends, VM taps (br0), the links between bridges."""
    n = {b.name: (1 if b.uplink else 0) for b in p.bridges}
    n["br0"] += len(p.vms) + len(p.bridges) - 1
    for c in p.containers:
        n[c.bridge] += 1
    return n


def test_a_lab_of_1000_and_10_vms_stays_on_br0():
    p = plan(LabSpec("demo", 1000, 10))
    assert [b.name for b in p.bridges] == ["br0"] and {c.bridge for c in p.containers} == {"br0"}
    assert p.bridges[0].mac == p.bridge_mac


@pytest.mark.parametrize("containers, vms", [(1100, 0), (5000, 0), (5000, 10), (MAX_CONTAINERS, MAX_VMS),
                                             (1000, MAX_VMS), (0, MAX_VMS), (2033, 0)])
def test_bridges_hold_every_container_within_the_port_limit(containers, vms):
    p = plan(LabSpec("big", containers, vms))
    assert len(p.bridges) == bridges_needed(containers, vms) and len(p.bridges) >= -(-containers // BR_MAX_PORTS)
    assert [b.name for b in p.bridges] == [f"br{i}" for i in range(len(p.bridges))]
    n = ports(p)
    assert max(n.values()) <= names.PORTS_PER_BRIDGE < BR_MAX_PORTS
    assert [b.containers for b in p.bridges] == [sum(c.bridge == b.name for c in p.containers) for b in p.bridges]
    # in CTID order, evenly: no bridge more than a couple of containers above another (br0 holds the rest)
    order = [c.bridge for c in p.containers]
    assert order == sorted(order, key=lambda b: int(b[2:]))
    if len(p.bridges) > 1:
        others = [b.containers for b in p.bridges[1:]]
        assert max(others) - min(others) <= 1
    for b in p.bridges[1:]:
        assert (b.uplink, b.downlink) == (f"{b.name}-br0", f"br0-{b.name}")
    assert len(set(_macs(p))) == len(_macs(p))


def test_fewer_bridges_than_the_size_needs_is_refused_with_the_limit():
    with pytest.raises(InvalidInput) as e:
        LabSpec("ok", containers=1100, vms=0, bridges=1).check()
    assert e.value.rule == "bridge-full" and "1,024" in str(e.value) and "--bridges 2" in str(e.value)
    assert len(plan(LabSpec("ok", 1100, 0, bridges=3)).bridges) == 3
    p = plan(LabSpec("ok", 6, 0, bridges=3))
    assert [c.bridge for c in p.containers] == ["br0", "br0", "br1", "br1", "br2", "br2"]


def test_a_lower_cap_splits_small_labs(monkeypatch):
    monkeypatch.setattr(names, "PORTS_PER_BRIDGE", 10)
    p = plan(LabSpec("ok", 25, 0))
    assert len(p.bridges) == 3 and max(ports(p).values()) <= 10
    assert bridge_split(25, 0, 2) is None


def test_limits_are_named_with_their_rule():
    import errno

    from vnet_tui.lab.limits import explain

    for code, what, words, rule in [
        (errno.EXFULL, "create veth1125.0", ("BR_MAX_PORTS", "1,024"), "bridge-full"),
        (errno.EMFILE, "open vl-x-ct101", ("RLIMIT_NOFILE", "ulimit -n"), "fd-limit"),
        (errno.ENFILE, "open", ("fs.file-max",), "fd-limit"),
        (errno.EAGAIN, "keeper: fork of holder 9", ("RLIMIT_NPROC", "pid_max"), "process-limit"),
        (errno.ENOSPC, "ct5: [Errno 28] unshare: No space", ("user.max_net_namespaces",), "netns-limit"),
        (errno.ENOSPC, "ct5: mount /run/netns/x", ("fs.mount-max",), "mount-limit"),
        (errno.ENOMEM, "x", ("ENOMEM",), "memory"),
    ]:
        text, got = explain(code, what)
        assert got == rule and text.startswith(what) and all(w in text for w in words), text
    assert explain(errno.EPERM, "create br0: Operation not permitted") == \
        ("create br0: Operation not permitted", "lab-build")


def test_different_labs_get_different_macs():
    a, b = plan(LabSpec("aaa", 10, 1)), plan(LabSpec("bbb", 10, 1))
    assert not set(_macs(a)) & set(_macs(b))


@pytest.mark.parametrize("spec, rule", [
    (LabSpec("Demo"), "lab-name"), (LabSpec("toolong12"), "lab-name"), (LabSpec(""), "lab-name"),
    (LabSpec("a-b"), "lab-name"), (LabSpec("ok", containers=MAX_CONTAINERS + 1), "lab-size"),
    (LabSpec("ok", vms=MAX_VMS + 1), "lab-size"), (LabSpec("ok", containers=-1), "lab-size"),
    (LabSpec("ok", seed=-1), "lab-seed"), (LabSpec("ok", bridges=MAX_BRIDGES + 1), "lab-size"),
    (LabSpec("ok", bridges=-1), "lab-size"), (LabSpec("ok", containers=3000, bridges=2), "bridge-full"),
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
