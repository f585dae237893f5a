"""Adapter policy from the command line: set, seen in show --json, undone, gone with the adapter.

`adapter set … --rate-in/--rate-out/--mac-filter/--ip-filter/--isolated/--cable`
on a lab container's adapter, checked with tc/nft/bridge/ip -j; a dry run
changes nothing; a setting the kernel lacks (VLANs here) is refused with
exit 2 naming the kernel option and nothing changes; undo returns the port
to what it was; deleting the adapter removes our nftables table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import ip_json, unique
from vnet_tui.policy import probe

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    state = str(tmp_path_factory.mktemp("state"))
    name = unique("p")
    env = {**os.environ, "VNET_TUI_STATE": state}

    def cli(*args, check=0):
        r = subprocess.run([sys.executable, "-m", "vnet_tui", *args, "--lab", name], capture_output=True,
                           text=True, env=env)
        assert r.returncode == check, r.stdout + r.stderr
        return r

    subprocess.run([sys.executable, "-m", "vnet_tui", "lab", "up", name, "--containers", "2", "--vms", "0"],
                   check=True, capture_output=True, env=env)
    try:
        yield name, cli
    finally:
        subprocess.run([sys.executable, "-m", "vnet_tui", "lab", "down", name], capture_output=True, env=env)


def port_view(host: str, dev: str) -> dict:
    """The port as the kernel tools show it."""
    tc = subprocess.run(["tc", "-n", host, "-j", "qdisc", "show", "dev", dev], capture_output=True, text=True)
    nft = subprocess.run(["ip", "netns", "exec", host, "nft", "-j", "list", "tables"], capture_output=True,
                         text=True)
    bridge = subprocess.run(["bridge", "-n", host, "-j", "-d", "link", "show", "dev", dev], capture_output=True,
                            text=True)
    link = ip_json("link", "show", "dev", dev, netns=host)[0]
    tables = [t["table"]["name"] for t in json.loads(nft.stdout or '{"nftables": []}')["nftables"] if "table" in t]
    return {"qdiscs": sorted(q["kind"] for q in json.loads(tc.stdout or "[]")),
            "tables": sorted(tables),
            "isolated": json.loads(bridge.stdout or "[{}]")[0].get("isolated"),
            "up": "UP" in link["flags"]}


def test_policies_set_seen_undone(lab):
    name, cli = lab
    if not probe.has("nft-netdev"):
        pytest.skip("NOT TESTED: no nftables (libnftables) on this machine")
    host, dev = f"vl-{name}-host", "veth101.0"
    before = port_view(host, dev)

    cli("adapter", "set", "ct101", "eth0", "--rate-in", "10mbit", "--dry-run")
    assert port_view(host, dev) == before  # a dry run changes nothing

    r = cli("adapter", "set", "ct101", "eth0", "--rate-in", "10mbit", "--rate-out", "5mbit/64kb",
            "--mac-filter", "on", "--ip-filter", "on", "--isolated", "on", "--json")
    out = json.loads(r.stdout)
    assert out["ok"] and out["persists"]
    now = port_view(host, dev)
    assert "tbf" in now["qdiscs"] and f"vnet_tui_{dev}" in now["tables"] and now["isolated"] is True

    shown = json.loads(cli("show", "--json").stdout)
    pol = next(i for i in shown["host"]["interfaces"] if i["ifname"] == dev)["policy"]
    assert pol["rate_in"]["rate_bps"] == 10_000_000 and pol["bridge_port"]["isolated"] is True
    assert pol["mac_filter"] and pol["ip_filter"] and pol["rate_out"]

    cli("adapter", "set", "ct101", "eth0", "--cable", "unplugged")
    guest = ip_json("link", "show", "dev", "eth0", netns=f"vl-{name}-ct101")[0]
    assert "NO-CARRIER" in guest["flags"] and "UP" in guest["flags"]  # the guest's own end stays up
    cli("undo")
    assert "NO-CARRIER" not in ip_json("link", "show", "dev", "eth0", netns=f"vl-{name}-ct101")[0]["flags"]
    cli("undo")
    assert port_view(host, dev) == before


def test_a_missing_kernel_feature_is_refused_before_anything(lab):
    name, cli = lab
    if probe.has("bridge-vlan-filtering"):
        pytest.skip("NOT TESTED here: this kernel has bridge VLAN filtering (the refusal is for kernels without)")
    host, dev = f"vl-{name}-host", "veth102.0"
    before = port_view(host, dev)
    r = cli("adapter", "set", "ct102", "eth0", "--vlan", "10", "--isolated", "on", "--json", check=2)
    assert json.loads(r.stdout)["error"]["rule"] == "kernel-lacks-bridge-vlan-filtering"
    assert port_view(host, dev) == before


def test_bad_policy_input_names_its_rule(lab):
    name, cli = lab
    for args, rule in ((["--rate-in", "fast"], "rate-syntax"), (["--mac-filter", "ff:ff:ff:ff:ff:ff"], None),
                       (["--ip-filter", "not-an-ip"], None), (["--isolated", "on", "--mtu", "1400"],
                                                                "policy-with-edit")):
        r = cli("adapter", "set", "ct102", "eth0", *args, "--json", check=2)
        err = json.loads(r.stdout)["error"]
        assert err["rule"] and (rule is None or err["rule"] == rule), err


def test_deleting_an_adapter_removes_its_policy(lab):
    name, cli = lab
    if not probe.has("nft-netdev"):
        pytest.skip("NOT TESTED: no nftables (libnftables) on this machine")
    host = f"vl-{name}-host"
    out = json.loads(cli("adapter", "add", "ct102", "--bridge", "br0", "--json").stdout)
    dev = out["after"]["host"]["ifname"]
    cli("adapter", "set", "ct102", dev, "--mac-filter", "on")
    assert f"vnet_tui_{dev}" in port_view(host, dev)["tables"]
    cli("adapter", "del", "ct102", dev)
    nft = subprocess.run(["ip", "netns", "exec", host, "nft", "list", "tables"], capture_output=True, text=True)
    assert f"vnet_tui_{dev}" not in nft.stdout
