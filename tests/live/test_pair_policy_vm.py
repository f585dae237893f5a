"""pair-test on a lab VM's adapter: the cable unplugged through QMP → no-carrier, read inside the guest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Iterator

import pytest

from tests.helpers import unique
from vnet_tui.guest.qga import QGA
from vnet_tui.lab import LabInfo, guest_boot, lab, wait_for_guests
from vnet_tui.ops.guestagent import guest_exec

pytestmark = [pytest.mark.live, pytest.mark.qemu, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def vl() -> Iterator[LabInfo]:
    with lab(unique("p"), containers=0, vms=1, seed=13, boot=guest_boot()) as info:
        late = wait_for_guests({"vm201": info.vm("vm201").qga}, timeout=240)
        assert not late, f"{late}; console: {open(info.vm('vm201').console, errors='replace').read()[-2000:]}"
        yield info


def cli(info: LabInfo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vnet_tui", *args, "--lab", info.name], capture_output=True,
                          text=True, env=dict(os.environ), timeout=300)


def pair_test(info: LabInfo, *extra: str) -> tuple[int, dict[str, Any]]:
    r = cli(info, "pair-test", "vm201", "net0", "--frames", "20", "--json", *extra)
    return r.returncode, json.loads(r.stdout)


def guest(info: LabInfo, script: str) -> str:
    with QGA(info.vm("vm201").qga, timeout=20) as q:
        code, out = guest_exec(q, ["/bin/sh", "-c", script], timeout=20)
    assert code == 0, out
    return out


def test_an_unplugged_vm_cable_is_no_carrier_and_plugged_back_it_is_ok(vl):
    code, r = pair_test(vl)
    assert code == 0 and r["status"] == "ok" and r["received"] == 20, r
    set_ = cli(vl, "adapter", "set", "vm201", "net0", "--cable", "unplugged")
    assert set_.returncode == 0, set_.stderr
    try:
        assert guest(vl, "cat /sys/class/net/eth0/carrier") == "0"
        code, r = pair_test(vl)
        assert code == 1 and r["status"] == "no-carrier", r
        assert r["sent"] == 0 and r["ends"] == {"guest": None, "host": None}
        assert r["cable"] == {"state": "unplugged", "guest_carrier": False, "guest_admin_up": True,
                              "guest_operstate": "down"}
        assert "--cable plugged" in r["message"]
        text = cli(vl, "pair-test", "vm201", "net0", "--frames", "20")
        assert text.returncode == 1 and "no carrier: eth0 in vm201 (guest end) is up but has no carrier" in text.stdout
    finally:
        back = cli(vl, "adapter", "set", "vm201", "net0", "--cable", "plugged")
        assert back.returncode == 0, back.stderr
    assert guest(vl, "cat /sys/class/net/eth0/carrier") == "1"
    code, r = pair_test(vl)
    assert code == 0 and r["status"] == "ok" and r["received"] == 20 and "cable" not in r, r
