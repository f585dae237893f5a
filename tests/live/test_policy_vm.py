"""A lab VM's adapter: the cable through QMP (the booted guest stops answering), policy on its tap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Iterator

import pytest

from tests.helpers import unique
from tests.live.test_policy_helpers import our_chains, root_qdisc
from vnet_tui.core.errors import InvalidInput, NotPermitted
from vnet_tui.lab import LabInfo, guest_boot, lab, wait_for_guests
from vnet_tui.policy import plan, read, steps
from vnet_tui.policy.cable import qmp_cable
from vnet_tui.policy.port import Port

pytestmark = [pytest.mark.live, pytest.mark.qemu, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def vl() -> Iterator[LabInfo]:
    with lab(unique("q"), containers=0, vms=1, seed=9, boot=guest_boot()) as info:
        late = wait_for_guests({"vm201": info.vm("vm201").qga}, timeout=120)
        assert not late, f"{late}; console: {open(info.vm('vm201').console, errors='replace').read()[-2000:]}"
        yield info


def pair_test(info: LabInfo, frames: int = 50) -> dict[str, Any]:
    r = subprocess.run([sys.executable, "-m", "vnet_tui", "pair-test", "vm201", "net0", "--frames", str(frames),
                        "--lab", info.name, "--json"], capture_output=True, text=True, env=dict(os.environ),
                       timeout=120)
    return json.loads(r.stdout)


def test_pulling_the_vms_cable_silences_the_guest_and_plugging_it_back_restores_it(vl):
    vm = vl.vm("vm201")
    assert pair_test(vl)["received"] == 50  # plugged: the guest answers every probe
    step = qmp_cable(vm.qmp, "net0", up=False)
    assert step.command.endswith('{"execute": "set_link", "arguments": {"name": "net0", "up": false}}')
    step.action(None)  # type: ignore[arg-type]
    try:
        r = pair_test(vl)
        # the guest sees no carrier (read through its agent): pair-test says so and sends nothing
        assert r["status"] == "no-carrier" and r["sent"] == 0 and r["cable"]["guest_carrier"] is False, r
    finally:
        step.inverse(None)  # type: ignore[arg-type]
    assert pair_test(vl)["received"] == 50


def test_a_qmp_socket_not_of_a_lab_is_refused(tmp_path):
    with pytest.raises(NotPermitted) as e:
        qmp_cable(str(tmp_path / "libvirt-vm.qmp"), "net0", up=False)
    assert e.value.rule == "qmp-not-ours"


def test_a_taps_host_end_takes_rate_and_filters_and_refuses_the_veth_cable(vl):
    vm = vl.vm("vm201")
    with Port(vl.host_netns, vm.tap) as p:
        assert read.read(p)["kind"] == "tun"
        with pytest.raises(InvalidInput) as e:
            plan.plan(p, {"cable": False})
        assert e.value.rule == "cable-needs-qmp"
        before = read.settings(read.read(p))
        steps.apply(p, plan.plan(p, {"rate_in": "10mbit", "rate_out": "10mbit", "mac_filter": vm.guest_mac,
                                     "ip_filter": [vm.ipv4, vm.ipv6]}))
        assert root_qdisc(vl.host_netns, vm.tap)["handle"] == "5654:"
        assert sorted(our_chains(vl.host_netns)) == sorted(f"{k}_{vm.tap}" for k in ("mac", "ip", "rate"))
        r = pair_test(vl)  # the guest's own answers pass its filters
        assert r["received"] == 50, r
        got = read.read(p)
        assert got["mac_filter"]["dropped"]["mac"]["packets"] == 0
        assert got["ip_filter"]["dropped"]["arp-ip"]["packets"] == 0
        steps.apply(p, plan.undo_plan(p, before))
        assert read.settings(read.read(p)) == before
    assert our_chains(vl.host_netns) == {}
