"""The pair test's pure parts: frames, filters, probes, mirror, agent counters, agent discovery."""

from __future__ import annotations

import socket
import subprocess
import sys

from vnet_tui.core.model import Counters
from vnet_tui.discovery.qemu import parse_cmdline
from vnet_tui.pair import framing
from vnet_tui.pair.counters import nic_from_agent
from vnet_tui.pair.mirror import mirror, mirror_json
from vnet_tui.pair.result import latency_json, percentile

SRC = framing.mac_bytes("c4:37:72:00:00:01")
RUN = bytes(range(8))


def test_marked_frame_round_trip_and_shape():
    f = framing.marked_frame(SRC, RUN, 41, 123456789)
    assert len(f) == framing.ETH_ZLEN == 60
    assert f[:6] == bytes.fromhex("0180c200000e")  # nearest-bridge group: never forwarded
    assert f[6:12] == SRC and f[12:14] == b"\x88\xb5"
    m = framing.parse_marked(f, RUN)
    assert m is not None and (m.seq, m.sent_ns, m.src) == (41, 123456789, SRC)
    assert framing.parse_marked(f, bytes(8)) is None  # another run's frame is not ours
    assert framing.parse_marked(f[:20], RUN) is None


def test_marked_filter_accepts_ours_only():
    prog = framing.marked_filter()
    assert framing.run_filter(prog, framing.marked_frame(SRC, RUN, 0, 0))
    other = bytearray(framing.marked_frame(SRC, RUN, 0, 0))
    other[12:14] = b"\x08\x00"
    assert not framing.run_filter(prog, bytes(other))
    other = bytearray(framing.marked_frame(SRC, RUN, 0, 0))
    other[14:18] = b"XXXX"
    assert not framing.run_filter(prog, bytes(other))
    assert not framing.run_filter(prog, b"\x00" * 13)


def test_arp_probe_and_its_answer():
    tip = socket.inet_aton("198.18.200.1")
    guest = framing.mac_bytes("c4:37:72:aa:bb:cc")
    p = framing.arp_probe(SRC, tip, guest)
    assert len(p) == 60 and p[:6] == guest and p[12:14] == b"\x08\x06"
    assert p[20:22] == b"\x00\x01"  # request
    assert p[22:28] == framing.NEAREST_BRIDGE and p[28:32] == bytes(4)  # sender: the group, 0.0.0.0 (a probe)
    assert p[38:42] == tip
    # what Linux answers: to the sender hardware address, from the target
    answer = (framing.NEAREST_BRIDGE + guest + b"\x08\x06" + b"\x00\x01\x08\x00\x06\x04\x00\x02"
              + guest + tip + framing.NEAREST_BRIDGE + bytes(4))
    assert framing.is_probe_answer(answer, tip)
    assert framing.run_filter(framing.arp_reply_filter(tip), answer)
    assert not framing.is_probe_answer(answer, socket.inet_aton("198.18.200.2"))
    assert not framing.run_filter(framing.arp_reply_filter(socket.inet_aton("198.18.200.2")), answer)
    assert not framing.run_filter(framing.arp_reply_filter(tip), p)  # our request is not an answer
    assert framing.arp_probe(SRC, tip)[:6] == b"\xff" * 6


def test_mirror_directions():
    g = Counters(rx_bytes=600, tx_bytes=420, rx_packets=10, tx_packets=7)
    h = Counters(rx_bytes=420, tx_bytes=600, rx_packets=7, tx_packets=10)
    d = mirror(g, h)
    assert [x.ok for x in d] == [True, True]
    assert d[0].text() == "guest → host: 7 sent = 7 received ✓"
    lossy = Counters(rx_packets=7, tx_packets=10, tx_dropped=3)
    d = mirror(Counters(rx_packets=7), lossy)
    assert not d[1].ok and d[1].difference == 3 and d[1].dropped == 3
    assert "3 missing" in d[1].text() and "3 dropped" in d[1].text()
    j = mirror_json(g, None)
    assert j["ok"] is False and j["directions"] == [] and "not observable" in j["why"]


def test_latency_percentiles():
    assert percentile([], 50) is None
    vals = [float(i) for i in range(1, 101)]
    assert percentile(vals, 50) == 50.0 and percentile(vals, 99) == 99.0
    assert latency_json([0.5]) == {"p50": 0.5, "p99": 0.5, "max": 0.5}


def test_guest_nic_from_agent_answer():
    items = [
        {"name": "lo", "hardware-address": "00:00:00:00:00:00", "ip-addresses": [], "statistics": {}},
        {"name": "eth0", "hardware-address": "C4:37:72:00:00:01",
         "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "198.18.200.1", "prefix": 16},
                          {"ip-address-type": "ipv6", "ip-address": "fd00:5654::200:1", "prefix": 64}],
         "statistics": {"rx-bytes": 10, "rx-packets": 2, "rx-errs": 0, "rx-dropped": 1,
                        "tx-bytes": 20, "tx-packets": 3, "tx-errs": 0, "tx-dropped": 0}},
    ]
    nic = nic_from_agent(items, "c4:37:72:00:00:01")
    assert nic is not None and nic.name == "eth0" and nic.ipv4 == ["198.18.200.1"]
    assert nic.counters == Counters(rx_bytes=10, tx_bytes=20, rx_packets=2, tx_packets=3, rx_dropped=1)
    assert nic_from_agent(items, "c4:37:72:00:00:02") is None
    assert nic_from_agent(items, None) is None


def test_agent_socket_from_qemu_command_line():
    argv = ["qemu-system-x86_64", "-name", "guest=vm1", "-device", "virtio-serial-pci,id=vser0",
            "-chardev", "socket,id=qga0,path=/run/x/vm1.qga,server=on,wait=off",
            "-device", "virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0"]
    assert parse_cmdline(argv).qga == "/run/x/vm1.qga"
    # libvirt: the chardev comes as a passed fd (resolved from /proc later), JSON -device
    argv = ["qemu-system-x86_64", "-chardev", "socket,id=charchannel0,fd=33,server=on,wait=off",
            "-device", '{"driver":"virtserialport","bus":"virtio-serial0.0","nr":1,"chardev":"charchannel0",'
                       '"id":"channel0","name":"org.qemu.guest_agent.0"}']
    c = parse_cmdline(argv)
    assert c.qga is None and c.qga_fd == 33
    # another virtio-serial port is not the agent
    argv = ["qemu-system-x86_64", "-chardev", "socket,id=c1,path=/tmp/other", "-device",
            "virtserialport,chardev=c1,name=com.example.other"]
    assert parse_cmdline(argv).qga is None


def test_pair_core_never_imports_textual():
    code = ("import sys, vnet_tui.pair, vnet_tui.pair.vm, vnet_tui.commands.pair_test\n"
            "assert not [m for m in sys.modules if m.split('.')[0] == 'textual']")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
