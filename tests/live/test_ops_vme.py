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

from tests.live.test_ops_support import cli, cli_json, dumps, link, make_lab, state  # noqa: F401
from vnet_tui.core.errors import ChangeFailed
from vnet_tui.core.server import Server
from vnet_tui.discovery.qmp import QMP
from vnet_tui.net.change import faults
from vnet_tui.ops import api, qmpview, unplug
from vnet_tui.ops.requests import AddRequest
from vnet_tui.safety import journal

pytestmark = [pytest.mark.live, pytest.mark.qemu, pytest.mark.timeout(180)]


def qemu_view(qmp_path: str) -> dict:
    with QMP(qmp_path, timeout=5) as q:
        nics, loose = qmpview.nics(q)
        return {"nics": sorted((n.id, n.mac, n.netdev, n.ifname, n.bus) for n in nics),
                "netdevs": sorted(loose), "devices": sorted(qmpview.peripherals(q))}


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

        # delete: the paused guest never acknowledges, so the unplug stays pending
        out = cli_json("adapter", "del", "vm201", tap, "--lab", lab, env={"VNET_TUI_UNPLUG_WAIT": "0.3"})
        assert out["pending"] and any("unplug pending" in n for n in out["notes"])
        assert link(host, tap)["ifname"] == tap  # kept until QEMU lets go of the NIC
        assert [e["id"] for e in unplug.pending_unplugs()] == [out["journal_id"]]
        r = cli("undo", "--json", check=2)
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
