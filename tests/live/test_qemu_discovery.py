"""Real QEMU in a throwaway namespace: found, named, its taps and MACs read back."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.helpers import ip_json, netns
from tests.unit.test_fdinfo import open_tap
from vnet_tui.core.model import VMNic
from vnet_tui.discovery.qemu import QemuProcess, find_qemu_processes, vm_adapters
from vnet_tui.discovery.netinfo import taps_by_ifname
from vnet_tui.discovery.qmp import QMP, QMPError, info_network, query_rx_filter_macs, query_status

pytestmark = [pytest.mark.live, pytest.mark.qemu]

MAC = "c4:37:72:aa:bb:cc"
BASE = ["qemu-system-x86_64", "-S", "-nodefaults", "-display", "none", "-machine", "q35", "-m", "64"]


class Runner:
    """Starts QEMU inside one namespace; kills every QEMU and removes every file it made."""

    def __init__(self, ns: str) -> None:
        self.ns = ns
        self.procs: list[subprocess.Popen[bytes]] = []
        self.files: list[str] = []

    def path(self, suffix: str) -> str:
        p = f"/tmp/vt-{secrets.token_hex(4)}{suffix}"
        self.files.append(p)
        return p

    def start(self, args: list[str], pass_fds: tuple[int, ...] = ()) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, *BASE, *args],
            pass_fds=pass_fds,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.procs.append(p)
        return p

    def close(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()
        for f in self.files:
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass


@pytest.fixture
def runner() -> Iterator[Runner]:
    with netns() as (ns,):
        r = Runner(ns)
        try:
            yield r
        finally:
            r.close()


def wait_qmp(proc: subprocess.Popen[bytes], path: str) -> None:
    """Until QEMU answers on its QMP socket (fails early if QEMU died)."""
    deadline = time.monotonic() + 10
    while query_status(path, timeout=0.5) is None:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            pytest.fail(f"QEMU exited {proc.returncode}: {err}")
        assert time.monotonic() < deadline, "no QMP answer in 10 s"
        time.sleep(0.05)


def found(pid: int) -> QemuProcess:
    procs = [p for p in find_qemu_processes() if p.pid == pid]
    assert len(procs) == 1, f"QEMU pid {pid} not found"
    return procs[0]


def tap_name() -> str:
    return f"vme{secrets.token_hex(4)}.0"


def test_qemu_with_ifname_tap(runner: Runner) -> None:
    tap = tap_name()
    subprocess.run(["ip", "-n", runner.ns, "tuntap", "add", tap, "mode", "tap"], check=True)
    qmp = runner.path(".qmp")
    qemu = runner.start(
        ["-name", "guest=vttest,debug-threads=on",
         "-qmp", f"unix:{qmp},server=on,wait=off",
         "-netdev", f"tap,id=net0,ifname={tap},script=no,downscript=no",
         "-device", f"virtio-net-pci,netdev=net0,mac={MAC},id=net0dev"]
    )  # fmt: skip
    wait_qmp(qemu, qmp)

    p = found(qemu.pid)
    assert p.cmdline.name == "vttest"
    assert p.cmdline.qmp == qmp and p.cmdline.paused
    assert p.netns_inode == os.stat(f"/run/netns/{runner.ns}").st_ino
    assert list(p.taps.values()) == [tap]  # from fdinfo
    assert vm_adapters(p) == [VMNic("net0", MAC, tap, "virtio-net-pci")]
    assert query_rx_filter_macs(qmp) == {"net0dev": MAC}
    assert query_status(qmp) == "prelaunch"  # -S: not started yet


def test_qmp_events_errors_and_hotplugged_tap(runner: Runner) -> None:
    qmp = runner.path(".qmp")
    qemu = runner.start(["-name", "guest=vthot", "-qmp", f"unix:{qmp},server=on,wait=off",
                         "-device", "pcie-root-port,id=rp1,chassis=1"])
    wait_qmp(qemu, qmp)
    hot = tap_name()
    with QMP(qmp) as q:
        assert "QMP" in q.greeting
        q.cmd("cont")  # emits RESUME, then STOP below: events are skipped, answers matched
        q.cmd("stop")
        assert q.cmd("query-status")["status"] == "paused"
        with pytest.raises(QMPError, match="CommandNotFound"):
            q.cmd("no-such-command")
        q.cmd("netdev_add", type="tap", id="hp0", ifname=hot, script="no", downscript="no")
    assert query_status(qmp) == "paused"
    assert [l["ifname"] for l in ip_json("link", "show", hot, netns=runner.ns)] == [hot]

    p = found(qemu.pid)
    assert p.cmdline.adapters == []
    assert vm_adapters(p) == [VMNic(f"tap:{hot}", None, hot)]  # the command line alone cannot name it
    # QEMU can: a netdev with no NIC yet is named by its id, with no guest MAC
    assert vm_adapters(p, hot=taps_by_ifname(info_network(qmp))) == [VMNic("hp0", None, hot)]
    with QMP(qmp) as q:
        q.cmd("device_add", driver="virtio-net-pci", id="hpnic", netdev="hp0", mac="c4:37:72:aa:bb:0d", bus="rp1")
    hot_nics = taps_by_ifname(info_network(qmp))
    assert hot_nics[hot] == ("hp0", "hpnic", "c4:37:72:aa:bb:0d")
    assert vm_adapters(found(qemu.pid), live_macs=query_rx_filter_macs(qmp), hot=hot_nics) == [
        VMNic("hp0", "c4:37:72:aa:bb:0d", hot)]


def test_qemu_with_tap_passed_as_fd(runner: Runner) -> None:
    """libvirt's way: the parent opens the tap and the QMP socket, QEMU gets fds."""
    tap = tap_name()
    fd = open_tap(runner.ns, tap)
    mon_path = runner.path(".sock")
    mon = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        mon.bind(mon_path)
        mon.listen(1)
        qemu = runner.start(
            ["-name", "guest=vtfd",
             "-chardev", f"socket,id=charmonitor,fd={mon.fileno()},server=on,wait=off",
             "-mon", "chardev=charmonitor,id=monitor,mode=control",
             "-netdev", f'{{"type":"tap","fd":"{fd}","id":"hostnet0"}}',
             "-device", f'{{"driver":"virtio-net-pci","netdev":"hostnet0","id":"net0","mac":"{MAC}"}}'],
            pass_fds=(fd, mon.fileno()),
        )  # fmt: skip
    finally:
        os.close(fd)  # QEMU holds the tap and the socket now
        mon.close()
    wait_qmp(qemu, mon_path)

    p = found(qemu.pid)
    assert p.cmdline.tap_fds == {"hostnet0": fd}
    assert p.cmdline.qmp == mon_path  # from the fd, through /proc/PID/net/unix
    assert p.taps == {fd: tap}
    assert vm_adapters(p) == [VMNic("hostnet0", MAC, tap, "virtio-net-pci")]
    assert query_rx_filter_macs(p.cmdline.qmp or "") == {"net0": MAC}


def test_unreachable_qmp(tmp_path: Path) -> None:
    missing = str(tmp_path / "none.qmp")
    assert query_status(missing) is None
    assert query_rx_filter_macs(missing) == {}
    # a socket nobody answers on: the greeting never comes, the call gives up in time
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        silent.bind(str(tmp_path / "silent.qmp"))
        silent.listen(1)
        t = time.monotonic()
        assert query_status(str(tmp_path / "silent.qmp"), timeout=0.3) is None
        assert 0.25 < time.monotonic() - t < 10  # it waited, and it gave up
    finally:
        silent.close()
