"""VM adapters on a lab VM (real QEMU, paused, QMP): hot-plug, faults, unplug pending, no-QMP.

Checked against `ip -j -d` for the tap and QEMU's own view over QMP
(``info network``: the NIC, its MAC and the tap behind its netdev; the
QOM tree: which root port it sits on).
"""

from __future__ import annotations

import errno
import json
import os
from dataclasses import replace

import pytest

from tests.live.test_ops_support import cli, cli_json, dumps, link, make_lab
from tests.live.test_ops_support import state  # noqa: F401, I001 (a fixture, used by name)
from vnet_tui.core.errors import ChangeFailed
from vnet_tui.core.server import Server
from vnet_tui.discovery.qmp import QMP
from vnet_tui.net.faults import faults
from vnet_tui.ops import qmpview, unplug
from vnet_tui.ops.requests import AddRequest
from vnet_tui.safety import journal, journalsummary
from vnet_tui.txn import api

pytestmark = [pytest.mark.live, pytest.mark.qemu, pytest.mark.timeout(180)]


def qemu_view(qmp_path: str) -> dict:
    with QMP(qmp_path, timeout=5) as q:
        nics, loose = qmpview.nics(q)
        return {
            "nics": sorted((n.id, n.mac, n.netdev, n.ifname, n.bus) for n in nics),
            "netdevs": sorted(loose),
            "devices": sorted(qmpview.peripherals(q)),
        }


def test_hotplug_faults_and_unplug_pending(state: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(unplug, "WAIT", 0.3)
    with make_lab(0, vms=1) as info:
        lab, host = info.name, f"vl-{info.name}-host"
        server = Server(lab=lab)
        vm = cli_json("show", "--lab", lab)["vms"][0]
        qmp_path = vm["qmp"]
        start_kernel, start_qemu = dumps([host], sysctls=True), qemu_view(qmp_path)

        # a failure at each step leaves neither a tap nor a netdev/device behind
        n = 1
        while True:
            faults.arm(n, [errno.EBUSY, errno.EEXIST, errno.EINVAL][n % 3])
            try:
                api.add(server, AddRequest("vm201", bridge="br0", mac="c4:37:72:77:00:01"))
            except ChangeFailed as e:
                assert e.rule == "rolled-back" and faults.fired, (n, str(e))
                assert dumps([host], sysctls=True) == start_kernel, f"step {n} ({faults.fired})"
                assert qemu_view(qmp_path) == start_qemu, f"step {n} ({faults.fired})"
                n += 1
                continue
            finally:
                faults.disarm()
            break
        assert n >= 7 and faults.fired is None  # tap, tag, MAC, master, up, re-read, commit, netdev, device
        added = journal.entries()[-1]
        tap = added["target"]["tap"]

        t = link(host, tap)
        assert t["linkinfo"]["info_kind"] == "tun" and t["linkinfo"]["info_data"]["type"] == "tap"
        assert t["linkinfo"]["info_data"]["persist"] is True and t.get("master") == "br0"
        assert t["address"].startswith("fe:") and tap.startswith("vme") and tap.endswith(".1")
        view = qemu_view(qmp_path)
        nic = next(x for x in view["nics"] if x[3] == tap)
        assert nic[1] == "c4:37:72:77:00:01" and nic[2] == "net1" and nic[4] not in (None, "rp1")
        shown = cli_json("show", "--lab", lab)["vms"][0]
        assert tap in [a["host_ifname"] for a in shown["adapters"]]

        # the hot-plugged NIC's MAC counts for the duplicate rule (QEMU's own view, not the command line)
        r = cli("adapter", "add", "vm201", "--lab", lab, "--mac", "c4:37:72:77:00:01", "--json", check=2)
        assert json.loads(r.stdout)["error"]["rule"] == "mac-duplicate"

        # the host end (the tap): MAC (re-read after 0.5 s), MTU, off the bridge; undo restores it
        before = link(host, tap)
        cli(
            "adapter",
            "set",
            "vm201",
            tap,
            "--lab",
            lab,
            "--mac",
            "fe:77:00:00:00:09",
            "--mtu",
            "9000",
            "--no-bridge",
            check=0,
        )
        t = link(host, tap)
        assert (t["address"], t["mtu"], t.get("master")) == ("fe:77:00:00:00:09", 9000, None)
        cli("undo", check=0)
        t = link(host, tap)
        assert (t["address"], t["mtu"], t.get("master")) == (before["address"], 1500, "br0")

        # delete: the paused guest never acknowledges, so the unplug stays pending
        out = cli_json("adapter", "del", "vm201", tap, "--lab", lab, env={"VNET_TUI_UNPLUG_WAIT": "0.3"})
        assert out["pending"] and any("unplug pending" in n for n in out["notes"])
        assert link(host, tap)["ifname"] == tap  # kept until QEMU lets go of the NIC
        assert [e["id"] for e in journalsummary.pending_unplugs()] == [out["journal_id"]]
        r = cli("undo", "--id", out["journal_id"], "--json", check=2)
        assert json.loads(r.stdout)["error"]["rule"] == "unplug-pending"
        r = cli("undo", "--dry-run", "--json", check=2)  # passed over; the add before it is that same NIC
        assert json.loads(r.stdout)["error"]["rule"] == "unplug-pending"

        # a VM without a usable QMP socket: the tap is made and the QEMU arguments printed
        topo = api.topology_of(server)
        topo.vms[0] = replace(topo.vms[0], qmp=None)
        plan = api.plan_add(server, topo, AddRequest("vm201", mac="c4:37:72:77:00:02"))
        result = api.apply(server, topo, plan)
        assert any("-netdev tap,id=net" in n and "mac=c4:37:72:77:00:02" in n for n in result.notes)
        assert not any(c.startswith("qmp ") for c in result.commands)
        made = result.record["after"]["tap"]["ifname"]
        assert link(host, made)["linkinfo"]["info_data"]["persist"] is True
        assert made not in [x[3] for x in qemu_view(qmp_path)["nics"]]
    # lab down: QEMU, the taps and the namespace are gone; the finisher gives up on its own
    assert not os.path.exists(qmp_path)


def test_real_guest_sees_hotplug_and_acknowledges_unplug(state: str, tmp_path) -> None:  # noqa: F811
    """A booted guest (the lab image, TCG): the hot-plugged NIC appears in it; device_del completes."""
    import subprocess
    import time

    from tests.helpers import netns, unique
    from vnet_tui.guest import ensure_image, guest_qemu_args, wait_for_agent

    image = ensure_image()
    name = unique("vtg")
    with netns() as (ns,):
        for cmd in (
            ["tuntap", "add", "dev", "vme0000aa01.0", "mode", "tap"],
            ["link", "set", "vme0000aa01.0", "up"],
        ):
            subprocess.run(["ip", "-n", ns, *cmd], check=True)
        # vnet-tui opens only QMP sockets it made itself, the lab's way: vl-LAB-VM.qmp beside lab.json
        labdir = tmp_path / "labs" / name
        labdir.mkdir(parents=True)
        (labdir / "lab.json").write_text("{}")
        qmp, qga = str(labdir / f"vl-{name}-vm.qmp"), str(tmp_path / "qga.sock")
        argv = [
            "ip",
            "netns",
            "exec",
            ns,
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            "-machine",
            "q35",
            "-nodefaults",
            "-display",
            "none",
            "-name",
            f"guest={name}",
            "-qmp",
            f"unix:{qmp},server=on,wait=off",
            "-device",
            "pcie-root-port,id=rp1,chassis=1",
            "-device",
            "pcie-root-port,id=rp2,chassis=2",
            "-netdev",
            "tap,id=net0,ifname=vme0000aa01.0,script=no,downscript=no",
            "-device",
            "virtio-net-pci,netdev=net0,id=net0,mac=c4:37:72:00:aa:01",
            *guest_qemu_args(
                image,
                ip4="198.18.3.1/16",
                ip6=None,
                qga_socket=qga,
                serial_log=str(tmp_path / "console.log"),
                mem_mb=256,
            ),
        ]
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            agent = wait_for_agent(qga, timeout=60)

            def guest_macs() -> set:
                return {i.get("hardware-address") for i in agent.interfaces()}

            def wait(cond, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
                deadline = time.monotonic() + timeout
                while not cond():
                    assert time.monotonic() < deadline, f"timed out: {what}"
                    time.sleep(0.3)

            out = cli_json("adapter", "add", name, "--netns", ns, "--mac", "c4:37:72:55:00:01")
            tap = out["after"]["tap"]["ifname"]
            assert tap == "vme0000aa01.1" and out["after"]["nic"]["bus"] == "rp1"
            wait(lambda: "c4:37:72:55:00:01" in guest_macs(), 30, "the guest to see the new NIC")

            env = {"VNET_TUI_UNPLUG_WAIT": "30"}
            out = cli_json("adapter", "del", name, tap, "--netns", ns, env=env)
            assert not out["pending"], "the guest did not acknowledge the unplug"
            assert (
                tap not in [x[3] for x in qemu_view(qmp)["nics"]] and "net1" not in qemu_view(qmp)["netdevs"]
            )
            assert subprocess.run(["ip", "-n", ns, "link", "show", tap], capture_output=True).returncode != 0
            wait(lambda: "c4:37:72:55:00:01" not in guest_macs(), 30, "the NIC to leave the guest")

            cli("undo", check=0)  # plugs it back: same tap name, MAC and port
            assert (tap, "rp1") in [(x[3], x[4]) for x in qemu_view(qmp)["nics"]]
            wait(lambda: "c4:37:72:55:00:01" in guest_macs(), 30, "the NIC to come back")

            # a guest MAC changes by unplug + replug only
            r = cli(
                "adapter",
                "set",
                name,
                tap,
                "--netns",
                ns,
                "--end",
                "guest",
                "--mac",
                "c4:37:72:55:00:02",
                "--json",
                check=2,
            )
            assert json.loads(r.stdout)["error"]["rule"] == "vm-guest-mac-live"
            cli(
                "adapter",
                "set",
                name,
                tap,
                "--netns",
                ns,
                "--end",
                "guest",
                "--mac",
                "c4:37:72:55:00:02",
                "--replug",
                check=0,
            )
            assert ("c4:37:72:55:00:02", tap) in [(x[1], x[3]) for x in qemu_view(qmp)["nics"]]
            wait(lambda: "c4:37:72:55:00:02" in guest_macs(), 30, "the guest to see the new MAC")
            cli("undo", check=0)  # replug with the old MAC
            assert (tap, "rp1") in [(x[3], x[4]) for x in qemu_view(qmp)["nics"]]
            wait(lambda: "c4:37:72:55:00:01" in guest_macs(), 30, "the NIC to come back")
            out = cli_json("undo", env=env)  # undo the add itself: unplugged again, tap removed
            assert not out["pending"] and tap not in [x[3] for x in qemu_view(qmp)["nics"]]
        finally:
            proc.kill()
            proc.wait(timeout=10)
