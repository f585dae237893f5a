"""Every step's failure leaves the port as it was: the inverses run, proven with before/after views."""

from __future__ import annotations

import errno

import pytest

from tests.live.test_policy_helpers import GUEST_MAC, GUEST_V4, GUEST_V6, plab, sh, views  # noqa: F401
from vnet_tui.core.errors import ChangeFailed
from vnet_tui.net.faults import faults
from vnet_tui.policy import plan, read, steps
from vnet_tui.policy.port import Port

pytestmark = pytest.mark.live

FULL = {"mac_filter": GUEST_MAC, "ip_filter": [GUEST_V4, GUEST_V6], "rate_out": "8mbit",
        "rate_in": {"rate": "10mbit", "burst": "64kb"}, "isolated": True, "cable": False}


@pytest.mark.parametrize("merge", [True, False], ids=["nft-merged", "each-setting"])
@pytest.mark.parametrize("start", [{}, {"mac_filter": "c4:37:72:00:09:77", "rate_in": "3mbit", "rate_out": "2mbit",
                                        "ip_filter": [GUEST_V4]}], ids=["clean-port", "port-with-policy"])
def test_a_fault_at_every_step_rolls_back_to_the_snapshot(plab, start, merge):
    with Port(plab.host, plab.port) as p:
        steps.apply(p, plan.plan(p, start))
        before_views = views(plab.host, plab.port)
        before = read.settings(read.read(p))
        n = len(plan.plan(p, FULL, merge=merge))
        assert n == (4 if merge else 6)  # merged: the three nftables settings in one transaction
        for k in range(1, n + 1):
            s = plan.plan(p, FULL, merge=merge)
            with faults.armed(k, errno.EIO):
                with pytest.raises(ChangeFailed) as e:
                    steps.apply(p, s)
            assert e.value.rule == "rolled-back", (k, str(e.value))
            assert faults.fired, k
            assert read.settings(read.read(p)) == before, f"fault at step {k}: {s[k - 1].command}"
            assert views(plab.host, plab.port) == before_views, f"fault at step {k}"
        # and with no fault the same plan goes through
        steps.apply(p, plan.plan(p, FULL, merge=merge))
        got = read.settings(read.read(p))
        assert got["rate_in"]["rate_bps"] == 10_000_000 and got["mac_filter"] == GUEST_MAC
        assert got["ip_filter"] == [GUEST_V4, GUEST_V6] and got["rate_out"]["rate_bps"] == 8_000_000


def test_a_real_kernel_refusal_mid_plan_rolls_back(plab):
    """The port leaves its bridge between planning and applying: the isolation step fails for real."""
    with Port(plab.host, plab.port) as p:
        s = plan.plan(p, {"rate_in": "10mbit", "mac_filter": GUEST_MAC, "isolated": True})
        assert "vnet_tui_veth9.0" in s[0].command
        assert [x.setting for x in s] == ["mac_filter", "rate_in", "isolated"]
        sh("ip", "-n", plab.host, "link", "set", plab.port, "nomaster")
        before = views(plab.host, plab.port)
        with pytest.raises(ChangeFailed) as e:
            steps.apply(p, s)
        assert e.value.rule == "rolled-back" and "step 3 of 3" in str(e.value)
        assert views(plab.host, plab.port) == before
