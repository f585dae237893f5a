"""show --json on hand-made namespaces (no lab): pairing from netlink facts."""

import json
import subprocess
import sys

import pytest

from tests.helpers import ip_json, netns
from tests.ipview import assert_show_matches_ip

pytestmark = pytest.mark.live


def sh(*cmd):
    subprocess.run(cmd, check=True)


def show(*args):
    r = subprocess.run([sys.executable, "-m", "vnet_tui", "show", *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r


def test_pairs_resolved_without_guessing_ifindex():
    with netns(3) as (host, c1, c2):
        # dummies shift ifindexes so that "ifindex + 1" would pair wrongly
        sh("ip", "-n", c1, "link", "add", "pad0", "type", "bridge")
        sh("ip", "-n", host, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", host, "link", "add", "veth1.0", "type", "veth", "peer", "name", "eth0", "netns", c1)
        sh("ip", "-n", host, "link", "add", "veth2.0", "type", "veth", "peer", "name", "eth0", "netns", c2)
        sh("ip", "-n", host, "link", "add", "veth2.1", "type", "veth", "peer", "name", "eth1", "netns", c2)
        sh("ip", "-n", host, "link", "add", "hostpair0", "type", "veth", "peer", "name", "hostpair1")
        sh("ip", "-n", host, "link", "set", "veth1.0", "master", "br0")
        sh("ip", "-n", c2, "addr", "add", "198.18.2.1/16", "dev", "eth0")
        sh("ip", "-n", c2, "addr", "add", "198.18.2.2/16", "dev", "eth0")
        sh("ip", "-n", c2, "addr", "add", "fd00:5654::2:1/64", "dev", "eth1", "nodad")
        out = json.loads(show("--netns", host, "--json").stdout)

        assert out["host"]["netns"] == host
        names = sorted(c["name"] for c in out["containers"])
        assert names == sorted([c1, c2])
        assert assert_show_matches_ip(out) == 3
        by_name = {i["ifname"]: i for i in out["host"]["interfaces"]}
        assert by_name["veth2.1"]["peer"]["ifname"] == "eth1"
        assert by_name["veth1.0"]["peer"]["owner"] == c1
        assert by_name["veth1.0"]["master"] == "br0"
        assert by_name["hostpair0"]["peer"]["ifname"] == "hostpair1"
        ct2 = next(c for c in out["containers"] if c["name"] == c2)
        eth0 = next(i for i in ct2["interfaces"] if i["ifname"] == "eth0")
        assert set(eth0["addresses"]) >= {"198.18.2.1/16", "198.18.2.2/16"}


def test_table_output_and_unknown_namespace():
    with netns(2) as (host, c1):
        sh("ip", "-n", host, "link", "add", "veth1.0", "type", "veth", "peer", "name", "eth0", "netns", c1)
        text = show("--netns", host).stdout
        assert "veth1.0" in text and "eth0" in text and c1 in text
    r = subprocess.run([sys.executable, "-m", "vnet_tui", "show", "--netns", "vt-nope-nope", "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 4
    err = json.loads(r.stdout)["error"]
    assert err["code"] == 4 and "vt-nope-nope" in err["message"]
    assert "vt-nope-nope" not in [n["name"] for n in ip_json("netns", "list")]  # never created
