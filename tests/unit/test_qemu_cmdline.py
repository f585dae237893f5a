"""QEMU command lines: name, QMP socket, NICs in keyval, JSON and -nic forms."""

from __future__ import annotations

from vnet_tui.core.model import VMNic
from vnet_tui.discovery.qemu import (
    QemuCmdline,
    QemuProcess,
    is_qemu,
    options,
    parse_cmdline,
    parse_opts,
    vm_adapters,
)

LAB = [
    "qemu-system-x86_64", "-S", "-nodefaults", "-display", "none", "-machine", "q35", "-m", "64",
    "-name", "guest=vm201,debug-threads=on",
    "-qmp", "unix:/run/vnet-tui/lab/vm201.qmp,server=on,wait=off",
    "-device", "pcie-root-port,id=rp1,chassis=1",
    "-netdev", "tap,id=net0,ifname=vme0000c9a1.0,script=no,downscript=no",
    "-device", "virtio-net-pci,netdev=net0,mac=C4:37:72:00:C9:A1,id=net0dev,bus=rp1",
]  # fmt: skip

# what libvirt 9 (QEMU >= 7) runs: JSON -netdev/-device, fds passed in, QMP on a chardev
LIBVIRT = [
    "/usr/bin/qemu-system-x86_64",
    "-name", "guest=web01,debug-threads=on",
    "-S",
    "-object", '{"qom-type":"secret","id":"masterKey0","format":"raw","file":"/var/lib/libvirt/qemu/domain-3-web01/master-key.aes"}',
    "-machine", "pc-q35-7.2,usb=off,vmport=off,dump-guest-core=off,memory-backend=pc.ram",
    "-chardev", "socket,id=charmonitor,fd=31,server=on,wait=off",
    "-mon", "chardev=charmonitor,id=monitor,mode=control",
    "-netdev", '{"type":"tap","fd":"34","vhost":true,"vhostfd":"36","id":"hostnet0"}',
    "-device", '{"driver":"virtio-net-pci","netdev":"hostnet0","id":"net0","mac":"52:54:00:6b:3c:58","bus":"pci.1","addr":"0x0"}',
    "-netdev", '{"type":"tap","fds":"37:38","vhost":true,"vhostfds":"39:40","id":"hostnet1"}',
    "-device", '{"driver":"virtio-net-pci","mq":true,"vectors":6,"netdev":"hostnet1","id":"net1","mac":"52:54:00:aa:bb:01","bus":"pci.2","addr":"0x0"}',
    "-chardev", "pty,id=charserial0",
    "-msg", "timestamp=on",
]  # fmt: skip


def test_lab_command_line() -> None:
    c = parse_cmdline(LAB)
    assert c.name == "vm201"
    assert c.qmp == "/run/vnet-tui/lab/vm201.qmp"
    assert c.paused is True
    assert c.adapters == [VMNic("net0", "c4:37:72:00:c9:a1", "vme0000c9a1.0", "virtio-net-pci")]
    assert c.tap_fds == {}
    assert c.nic_ids == {"net0": "net0dev"}


def test_libvirt_json_command_line() -> None:
    c = parse_cmdline(LIBVIRT)
    assert c.name == "web01"
    assert c.qmp is None and c.qmp_fd == 31  # resolved from /proc by find_qemu_processes
    assert [(a.id, a.guest_mac, a.host_ifname, a.model) for a in c.adapters] == [
        ("hostnet0", "52:54:00:6b:3c:58", None, "virtio-net-pci"),
        ("hostnet1", "52:54:00:aa:bb:01", None, "virtio-net-pci"),
    ]
    assert c.tap_fds == {"hostnet0": 34, "hostnet1": 37}  # multiqueue: the first queue's fd
    assert c.nic_ids == {"hostnet0": "net0", "hostnet1": "net1"}


def test_keyval_fd_form_and_named_fd() -> None:
    c = parse_cmdline(
        ["qemu-kvm", "-netdev", "tap,fd=27,id=hostnet0", "-netdev", "tap,fd=mytap,id=hostnet1",
         "-device", "e1000,netdev=hostnet0,mac=52-54-00-01-02-03"]
    )  # fmt: skip
    assert c.tap_fds == {"hostnet0": 27}  # a named fd (getfd) has no number to match
    assert c.adapters[0] == VMNic("hostnet0", "52:54:00:01:02:03", None, "e1000")
    assert c.adapters[1] == VMNic("hostnet1", None, None, None)


def test_name_forms() -> None:
    assert parse_cmdline(["qemu-system-x86_64", "-name", "plain"]).name == "plain"
    assert parse_cmdline(["qemu-system-x86_64", "--name", "vm,,with,,commas,process=q"]).name == "vm,with,commas"
    assert parse_cmdline(["qemu-system-x86_64", "-m", "64"]).name is None


def test_qmp_forms() -> None:
    base = ["qemu-system-x86_64"]
    assert parse_cmdline(base + ["-qmp", "unix:/tmp/a.qmp,server,nowait"]).qmp == "/tmp/a.qmp"
    assert parse_cmdline(base + ["-qmp", "tcp:127.0.0.1:4444,server=on"]).qmp is None
    chardev = ["-chardev", "socket,id=mon0,path=/run/q/m.sock,server=on,wait=off"]
    assert parse_cmdline(base + chardev + ["-mon", "chardev=mon0,mode=control"]).qmp == "/run/q/m.sock"
    assert parse_cmdline(base + chardev + ["-qmp", "chardev:mon0"]).qmp == "/run/q/m.sock"
    # a human (readline) monitor is not QMP
    assert parse_cmdline(base + chardev + ["-mon", "chardev=mon0,mode=readline"]).qmp is None
    # the first QMP monitor wins
    two = base + ["-qmp", "unix:/tmp/first", "-qmp", "unix:/tmp/second"]
    assert parse_cmdline(two).qmp == "/tmp/first"


def test_nic_shorthand_and_template_ifname() -> None:
    c = parse_cmdline(
        ["qemu-system-x86_64", "-nic", "tap,ifname=vme00000001.0,mac=c4:37:72:00:00:01,model=virtio-net-pci,script=no",
         "-nic", "user,model=e1000", "-nic", "none",
         "-netdev", "tap,id=t0,ifname=tap%d", "-device", "virtio-net-pci,netdev=t0"]
    )  # fmt: skip
    assert c.adapters == [
        VMNic("__org.qemu.nic0", "c4:37:72:00:00:01", "vme00000001.0", "virtio-net-pci"),
        VMNic("__org.qemu.nic1", None, None, "e1000"),
        VMNic("t0", None, None, "virtio-net-pci"),  # the kernel picks the name: fdinfo knows it
    ]


def test_unknown_flag_does_not_swallow_our_options() -> None:
    c = parse_cmdline(["qemu-system-x86_64", "-some-new-flag", "-netdev", "tap,id=n,ifname=t1", "-S"])
    assert [a.host_ifname for a in c.adapters] == ["t1"] and c.paused
    assert list(options(["q", "-display", "-S"])) == [("S", None)]  # "-display" is not ours
    assert not parse_cmdline(["qemu-system-x86_64", "-name"]).name  # value missing at the end


def test_parse_opts() -> None:
    assert parse_opts("tap,id=n0,vhost=on", "type") == {"type": "tap", "id": "n0", "vhost": "on"}
    assert parse_opts('{"type":"tap","vhost":true,"fd":27}', "type") == {"type": "tap", "vhost": "on", "fd": "27"}
    assert parse_opts("{broken", "type") == {}


def test_vm_adapters_fill_host_ends_from_fdinfo() -> None:
    cmd = parse_cmdline(LIBVIRT)
    # fd 34 is hostnet0's tap; 37 and 38 are hostnet1's queues; 50 was hot-plugged
    proc = QemuProcess(4242, 4026532000, cmd, {34: "vnet3", 37: "vnet4", 38: "vnet4", 50: "vnet9"})
    got = vm_adapters(proc, live_macs={"net0": "52:54:00:6B:3C:99"})
    assert [(a.id, a.guest_mac, a.host_ifname) for a in got] == [
        ("hostnet0", "52:54:00:6b:3c:99", "vnet3"),  # the MAC the guest uses now, from QMP
        ("hostnet1", "52:54:00:aa:bb:01", "vnet4"),
        ("tap:vnet9", None, "vnet9"),
    ]
    assert cmd.adapters[0].host_ifname is None  # the parsed command line is left as it was


def test_vm_adapters_keep_ifname_from_command_line() -> None:
    proc = QemuProcess(1, None, parse_cmdline(LAB), {8: "vme0000c9a1.0"})
    assert [(a.id, a.host_ifname) for a in vm_adapters(proc)] == [("net0", "vme0000c9a1.0")]


def test_is_qemu_by_argv() -> None:
    assert is_qemu(2**22 + 1, ["/usr/bin/qemu-system-x86_64", "-S"])
    assert is_qemu(2**22 + 1, ["/usr/libexec/qemu-kvm"])
    assert is_qemu(2**22 + 1, ["/usr/bin/kvm", "-id", "100"])  # Proxmox
    assert not is_qemu(2**22 + 1, ["/usr/bin/python3", "qemu-system-x86_64"])
    assert not is_qemu(2**22 + 1, [])  # no such process, no argv


def test_empty_command_line() -> None:
    assert parse_cmdline([]) == QemuCmdline()
