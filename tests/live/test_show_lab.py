"""Foundation "done when": a lab of 10 containers and 2 VMs, `show --json` against ip's own view."""

import json
import subprocess
import sys

import pytest

from tests.helpers import ip_json, ours_left, unique
from tests.ipview import assert_show_matches_ip
from vnet_tui.discovery.qmp import query_rx_filter_macs
from vnet_tui.lab import lab

pytestmark = [pytest.mark.live, pytest.mark.qemu]


def show_json(name):
    r = subprocess.run([sys.executable, "-m", "vnet_tui", "show", "--lab", name, "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_show_pairs_every_end_of_a_lab_like_ip_does():
    name = unique("s")
    with lab(name, containers=10, vms=2, seed=7) as info:
        out = show_json(name)
        assert out["host"]["netns"] == f"vl-{name}-host"
        assert [c["name"] for c in out["containers"]] == [f"ct{101 + i}" for i in range(10)]
        assert all(c["runtime"] == "netns" and c["netns"]["pids"] for c in out["containers"])
        assert assert_show_matches_ip(out) == 10

        # VMs: taps found from fdinfo, guest MACs from the command line agree with QMP's own view
        assert [v["name"] for v in out["vms"]] == ["vm201", "vm202"]
        host = {i["ifname"]: i for i in out["host"]["interfaces"]}
        for vm in out["vms"]:
            assert vm["running"] is False and vm["qmp"]
            (a,) = vm["adapters"]
            assert a["id"] == "net0" and a["host_ifname"].startswith("vme")
            tap = host[a["host_ifname"]]
            assert tap["kind"] == "tun" and tap["master"] == "br0"
            assert tap["peer"] == {"kind": "vm", "owner": vm["name"], "adapter": "net0", "mac": a["guest_mac"]}
            assert tap["mac"] != a["guest_mac"]  # the host tap's MAC is not the guest's
            assert a["guest_mac"] in query_rx_filter_macs(vm["qmp"]).values()
            ip_tap = ip_json("-d", "link", "show", a["host_ifname"], netns=f"vl-{name}-host")[0]
            assert ip_tap["linkinfo"]["info_kind"] == "tun"

    assert f"vl-{name}-host" not in [n["name"] for n in ip_json("netns", "list")]
    assert not [n for n in ours_left().get("namespaces", []) if name in n]
