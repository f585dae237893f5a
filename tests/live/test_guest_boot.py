"""A real guest boots in a throwaway namespace; traffic crosses its tap; the agent reports it.

Builds (or reuses) the guest image, creates ``vme<8hex>.0`` in a ``vt-``
namespace, boots QEMU (TCG) inside it, and checks the guest from both
sides: the agent sees eth0 with our MAC and address, a ping from the
host end gets answers, and both ends' counters moved.
"""

from __future__ import annotations

import os
import secrets
import select
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ip_json, netns
from vnet_tui.guest import QGAError, ensure_image, guest_qemu_args, wait_for_agent
from vnet_tui.net.netns import open_netns, run_in

pytestmark = [pytest.mark.live, pytest.mark.qemu, pytest.mark.timeout(120)]

HOST_END = "198.18.0.1/16"
GUEST_IP4 = "198.18.2.1"
GUEST_IP6 = "fd5e:18::2:1"
GUEST_MAC = "c4:37:72:00:00:01"


@dataclass
class Guest:
    ns: str
    tap: str
    proc: subprocess.Popen[bytes]
    qga_socket: str
    console: Path
    started: float

    def console_text(self) -> str:
        try:
            return self.console.read_text(errors="replace")
        except OSError:
            return "(no console log)"


@pytest.fixture
def guest() -> Iterator[Guest]:
    image = ensure_image()
    workdir = tempfile.mkdtemp(prefix="vt-guest-")
    try:
        with netns() as (ns,):
            tap = f"vme{secrets.token_hex(4)}.0"
            for cmd in (
                ["tuntap", "add", "dev", tap, "mode", "tap"],
                ["addr", "add", HOST_END, "dev", tap],
                ["link", "set", tap, "up"],
            ):
                subprocess.run(["ip", "-n", ns, *cmd], check=True)
            sock, console = f"{workdir}/qga.sock", Path(workdir) / "console.log"
            argv = [
                "ip", "netns", "exec", ns, "qemu-system-x86_64",
                "-accel", "tcg", "-machine", "q35", "-nodefaults", "-display", "none",
                "-name", f"guest=vt-guest-{ns}",
                "-netdev", f"tap,id=net0,ifname={tap},script=no,downscript=no",
                "-device", f"virtio-net-pci,netdev=net0,mac={GUEST_MAC}",
                *guest_qemu_args(image, ip4=f"{GUEST_IP4}/16", ip6=f"{GUEST_IP6}/64",
                                 qga_socket=sock, serial_log=str(console), mem_mb=256),
            ]
            with open(f"{workdir}/qemu.err", "wb") as err:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
            try:
                yield Guest(ns, tap, proc, sock, console, time.monotonic())
            finally:
                proc.kill()
                proc.wait(timeout=10)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def tap_counters(ns: str, tap: str) -> dict[str, int]:
    (link,) = ip_json("-s", "link", "show", "dev", tap, netns=ns)
    return {"rx": link["stats64"]["rx"]["packets"], "tx": link["stats64"]["tx"]["packets"]}


def guest_eth0(qga) -> dict:  # type: ignore[no-untyped-def]
    by_name = {i["name"]: i for i in qga.interfaces()}
    assert "eth0" in by_name, f"the agent lists no eth0: {sorted(by_name)}"
    return by_name["eth0"]


def ping(ns: str, address: str, count: int = 3) -> int:
    """Echo replies received from ``address``, sent from inside ``ns``.

    Uses ``ping`` when the host has it; otherwise a raw ICMP socket made in
    the namespace (iputils-ping is not part of a minimal Debian).
    """
    if shutil.which("ping"):
        r = subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", str(count), "-W", "2", address],
                           check=False, capture_output=True, text=True)
        return sum(1 for line in r.stdout.splitlines() if "bytes from" in line)
    fd = open_netns(ns)
    try:
        s = run_in(fd, lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
    finally:
        os.close(fd)
    ident, replies = os.getpid() & 0xFFFF, 0
    with s:
        for seq in range(1, count + 1):
            payload = secrets.token_bytes(32)
            header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
            s.sendto(header[:2] + struct.pack("!H", _checksum(header + payload)) + header[4:] + payload,
                     (address, 0))
            deadline = time.monotonic() + 2
            while (left := deadline - time.monotonic()) > 0 and select.select([s], [], [], left)[0]:
                packet, (src, _) = s.recvfrom(2048)
                icmp = packet[(packet[0] & 0x0F) * 4 :]
                if src == address and icmp[0] == 0 and struct.unpack("!HH", icmp[4:8]) == (ident, seq):
                    replies += 1
                    break
            time.sleep(0.2)
    return replies


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def test_guest_boots_and_traffic_crosses_its_tap(guest: Guest) -> None:
    try:
        qga = wait_for_agent(guest.qga_socket, timeout=45)
    except QGAError as e:
        pytest.fail(f"{e}; QEMU exit={guest.proc.poll()}; guest console:\n{guest.console_text()}")
    boot = time.monotonic() - guest.started
    with qga:
        qga.ping()
        eth0 = guest_eth0(qga)
        assert eth0["hardware-address"] == GUEST_MAC
        addresses = {(a["ip-address"], a["prefix"]) for a in eth0["ip-addresses"]}
        assert (GUEST_IP4, 16) in addresses, addresses
        assert (GUEST_IP6, 64) in addresses, addresses

        rx_before = eth0["statistics"]["rx-packets"]
        tap_before = tap_counters(guest.ns, guest.tap)
        replies = ping(guest.ns, GUEST_IP4, 3)
        assert replies == 3, f"{replies}/3 echo replies; guest console:\n{guest.console_text()}"

        rx_after = guest_eth0(qga)["statistics"]["rx-packets"]
        tap_after = tap_counters(guest.ns, guest.tap)
    # what the host end sent, the guest's eth0 received — and the guest's answers came back
    assert rx_after - rx_before >= 3, (rx_before, rx_after)
    assert tap_after["tx"] - tap_before["tx"] >= 3, (tap_before, tap_after)
    assert tap_after["rx"] - tap_before["rx"] >= 3, (tap_before, tap_after)
    assert "vnet-guest: ready" in guest.console_text()
    print(f"boot to agent: {boot:.1f} s")


def test_agent_shutdown_ends_qemu(guest: Guest) -> None:
    with wait_for_agent(guest.qga_socket, timeout=45) as qga:
        qga.shutdown()
    assert guest.proc.wait(timeout=15) == 0
