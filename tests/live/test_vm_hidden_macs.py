"""A NIC plugged into a VM after its topology was read still counts for the MAC duplicate rule.

``vm_nic_macs`` asks QEMU about a VM whose process holds a tap the held
topology does not list.  For a MAC the operator typed, it reads every tap
the process holds; for generated MACs, only when the process has opened
or closed a file since discovery (one ``stat`` of ``/proc/PID/fd``).
Real QEMU (paused), real hot-plug over QMP.
"""

from __future__ import annotations

import time

import pytest

from tests.live.test_ops_support import make_lab
from tests.live.test_ops_support import state  # noqa: F401, I001 (a fixture, used by name)
from vnet_tui.core.server import Server
from vnet_tui.discovery.qemu import open_files
from vnet_tui.discovery.topology import discover
from vnet_tui.ops import planner
from vnet_tui.ops.requests import AddRequest
from vnet_tui.txn import api

pytestmark = [pytest.mark.live, pytest.mark.qemu, pytest.mark.timeout(180)]

MAC = "c4:37:72:77:00:02"


def settled(pid: int, count: int, within: float = 5.0) -> bool:
    """Whether the process's open-file count comes back to ``count`` (discovery's QMP
    connections are closed by QEMU a moment after ours)."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        if open_files(pid) == count:
            return True
        time.sleep(0.05)
    return False


def test_a_nic_plugged_in_after_discovery_is_seen(
    state: str, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    with make_lab(0, vms=1) as info:
        server = Server(lab=info.name)
        held = discover(server)
        vm = held.vms[0]
        assert vm.open_files, "Linux 6.2+ reports the open files as the size of /proc/PID/fd"
        assert settled(vm.pid, vm.open_files)

        reads: list[int] = []
        real = planner.tap_ifnames
        monkeypatch.setattr(planner, "tap_ifnames", lambda pid: reads.append(pid) or real(pid))

        # nothing plugged in: generated MACs read nothing of the process; a typed one reads its taps
        assert planner.vm_nic_macs(held, typed=False) == {} and reads == []
        assert planner.vm_nic_macs(held, typed=True) == {} and reads == [vm.pid]
        assert planner.typed_macs(AddRequest("x", mac=MAC))
        assert planner.typed_macs(AddRequest("x", host_mac=MAC))
        assert not planner.typed_macs(AddRequest("x")) and not planner.typed_macs(AddRequest("x", mac="auto"))

        # a NIC plugged in through another topology: the held one does not list its tap
        api.add(server, AddRequest(vm.name, bridge="br0", mac=MAC))
        assert MAC not in {a.guest_mac for a in vm.adapters}
        reads.clear()
        found = planner.vm_nic_macs(held, typed=False)
        assert MAC in found and vm.name in found[MAC]
        assert reads == [vm.pid]  # the count moved, so the taps were read
        reads.clear()
        assert MAC in planner.vm_nic_macs(held, typed=True) and reads == [vm.pid]
