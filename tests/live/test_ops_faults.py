"""A failure injected at each step of each change rolls back to the snapshot.

For N = 1, 2, … the change layer fails the N-th change call with a
chosen errno; the operation must raise ChangeFailed (rule rolled-back,
exit 1), leave links, addresses, routes and sysctls exactly as before,
and journal nothing — until N passes the last step and it succeeds.
"""

from __future__ import annotations

import errno
from typing import Callable

import pytest

from tests.helpers import ip_json
from tests.live.test_ops_support import cli, differences, dumps, lab_namespaces, make_lab, settle
from tests.live.test_ops_support import state  # noqa: F401, I001 (a fixture, used by name)
from vnet_tui.core.errors import ChangeFailed
from vnet_tui.core.server import Server
from vnet_tui.net.faults import faults
from vnet_tui.txn import api
from vnet_tui.ops.requests import AddRequest, DelRequest, SetRequest
from vnet_tui.safety import journal
from vnet_tui.txn.undo import undo

pytestmark = [pytest.mark.live, pytest.mark.timeout(240)]
ERRNOS = [errno.EEXIST, errno.ENODEV, errno.EBUSY, errno.EADDRNOTAVAIL, errno.EPERM, errno.EINVAL]


def every_step_rolls_back(nss: list[str], change: Callable[[], object]) -> int:
    """Fail step 1, 2, … of ``change``; each must restore the dumps. Returns the step count."""
    settle(nss)
    start = dumps(nss, sysctls=True)
    lines = len([e for e in journal.entries() if e["op"] in journal.CHANGES])
    n = 1
    while n < 60:
        err = ERRNOS[n % len(ERRNOS)]
        faults.arm(n, err)
        try:
            change()
        except ChangeFailed as e:
            assert faults.fired, f"step {n}: failed without the injected fault: {e}"
            assert e.rule == "rolled-back", f"step {n} ({faults.fired}): {e}"
            settle(nss)  # addresses put back on an up link go through DAD again
            now = dumps(nss, sysctls=True)
            assert now == start, f"step {n} ({faults.fired}): {differences(start, now)}"
            assert len([e for e in journal.entries() if e["op"] in journal.CHANGES]) == lines, \
                "a failed change was journalled"
            assert not journal.incomplete(), "a failed change's write-ahead line was left open"
            n += 1
            continue
        finally:
            faults.disarm()
        assert faults.fired is None, f"step {n} fault ({faults.fired}) was swallowed"
        return n - 1
    raise AssertionError("more than 60 steps?")


def test_add_and_edit_roll_back_at_every_step(state: str) -> None:  # noqa: F811
    with make_lab(1) as info:
        server, nss = Server(lab=info.name), lab_namespaces(info.name, 1)
        host, ct = nss
        add = AddRequest("ct101", ips=["198.18.8.1/16", "fd00:5654::8:1/64"], bridge="br0", mtu=1450)
        steps = every_step_rolls_back(nss, lambda: api.add(server, add))
        assert steps >= 7  # create, tag, rename, 2 addresses, up ×2, master, commit

        settle(nss)
        before = dumps(nss, sysctls=True)
        routed = AddRequest("ct101", ifname="eth2", ips=["198.19.8.2/32", "fd00:5655::8:2/128"], routed=True)
        assert every_step_rolls_back(nss, lambda: api.add(server, routed)) >= 9
        undo(server)
        settle(nss)
        now = dumps(nss, sysctls=True)
        assert now == before, differences(before, now)

        edits = [
            SetRequest(
                "ct101",
                "eth1",
                mac="c4:37:72:0e:0e:01",
                add_ips=["198.18.8.2/16", "fd00:5654::8:2/64"],
                del_ips=["198.18.8.1/16"],
                mtu=1400,
            ),
            SetRequest("ct101", "veth101.1", no_bridge=True, up=False, mtu=9000, mac="fe:0e:0e:0e:0e:02"),
            SetRequest("ct101", "veth101.1", bridge="br0", up=True, add_ips=["198.19.9.1/24"]),
            SetRequest("ct101", "eth1", up=False),  # the kernel drops IPv6 addresses on down
            SetRequest("ct101", "eth1", up=True, add_ips=["fd00:5654::8:3/64"]),
        ]
        for req in edits:
            assert every_step_rolls_back(nss, lambda req=req: api.edit_adapter(server, req)) >= 1
        eth1 = {
            f"{x['local']}/{x['prefixlen']}"
            for a in ip_json("addr", "show", "dev", "eth1", netns=ct)
            for x in a["addr_info"]
            if not x["local"].startswith("fe80")
        }
        assert eth1 == {"198.18.8.2/16", "fd00:5654::8:3/64"}

        assert every_step_rolls_back(nss, lambda: api.delete(server, DelRequest("ct101", "eth1"))) == 1
        assert "veth101.1" not in [l["ifname"] for l in ip_json("link", "show", netns=host)]


def test_fault_switch_from_the_environment(state: str) -> None:  # noqa: F811
    with make_lab(1) as info:
        nss = lab_namespaces(info.name, 1)
        start = dumps(nss, sysctls=True)
        r = cli(
            "adapter",
            "add",
            "ct101",
            "--lab",
            info.name,
            "--ip",
            "198.18.8.9/16",
            "--json",
            env={"VNET_TUI_FAULT": "3:EEXIST"},
            check=1,
        )
        assert '"rule": "rolled-back"' in r.stdout and "step 3" in r.stdout
        assert dumps(nss, sysctls=True) == start
