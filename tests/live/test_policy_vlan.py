"""VLANs on a bridge port — only where the kernel has bridge VLAN filtering (NOT RUN on this project's kernels)."""

from __future__ import annotations

import json

import pytest

from tests.live.test_policy_helpers import plab, sh  # noqa: F401
from vnet_tui.policy import plan, probe, steps
from vnet_tui.policy.port import Port

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not probe.has("bridge-vlan-filtering"),
                       reason="NOT RUN: this kernel lacks CONFIG_BRIDGE_VLAN_FILTERING (bridge VLANs are refused "
                              "here with kernel-lacks-bridge-vlan-filtering; see test_policy_read)"),
]


def vlans(ns: str, dev: str) -> dict[int, set[str]]:
    out = json.loads(sh("bridge", "-n", ns, "-j", "vlan", "show", "dev", dev) or "[]")
    return {v["vlan"]: set(v.get("flags", [])) for e in out for v in e.get("vlans", [])}


def test_access_and_trunk_vlans_set_and_undone(plab):
    with Port(plab.host, "br0") as br:
        steps.apply(br, __import__("vnet_tui.policy.vlan", fromlist=["x"]).bridge_filtering_steps(br, True))
    with Port(plab.host, plab.port) as p:
        s = plan.plan(p, {"vlan": {"access": 10, "trunk": "20,21"}})
        steps.apply(p, s)
        got = vlans(plab.host, plab.port)
        assert {"PVID", "Egress Untagged"} <= got[10] and 20 in got and 21 in got and 1 not in got
        assert steps.rollback(p, s) == []
        assert 10 not in vlans(plab.host, plab.port)
