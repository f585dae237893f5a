"""Container adapters end to end on a lab, through the CLI, checked against `ip -j`'s own view.

Add (chosen MAC, two IPs, bridge) → edit each end → delete → undo back
through the journal, and routed mode; `show --json` agrees with `ip`
after each step.
"""

from __future__ import annotations

import os

import pytest

from tests.helpers import ip_json
from tests.ipview import assert_show_matches_ip
from tests.live.test_ops_support import addrs_of, cli, cli_json, dumps, lab_namespaces, link, make_lab, settle
from tests.live.test_ops_support import state  # noqa: F401, I001 (a fixture, used by name)

pytestmark = [pytest.mark.live, pytest.mark.timeout(120)]


def show(lab: str) -> dict:
    out = cli_json("show", "--lab", lab)
    assert_show_matches_ip(out)
    return out


def test_add_edit_delete_undo(state: str) -> None:  # noqa: F811
    with make_lab(2) as info:
        lab, host, ct = info.name, f"vl-{info.name}-host", f"vl-{info.name}-ct101"
        nss = lab_namespaces(lab, 2)
        start = dumps(nss, sysctls=True)

        dry = cli_json(
            "adapter",
            "add",
            "ct101",
            "--lab",
            lab,
            "--mac",
            "c4:37:72:0a:0b:0c",
            "--ip",
            "198.18.7.1/16",
            "--ip",
            "fd00:5654::7:1/64",
            "--bridge",
            "br0",
            "--dry-run",
        )
        assert dry["dry_run"] and any("type veth peer" in c for c in dry["commands"])
        assert dumps(nss, sysctls=True) == start, "--dry-run changed something"

        out = cli_json(
            "adapter",
            "add",
            "ct101",
            "--lab",
            lab,
            "--mac",
            "c4:37:72:0a:0b:0c",
            "--ip",
            "198.18.7.1/16",
            "--ip",
            "fd00:5654::7:1/64",
            "--bridge",
            "br0",
        )
        assert out["ok"] and out["journal_id"]
        g, h = link(ct, "eth1"), link(host, "veth101.1")
        assert g["address"] == "c4:37:72:0a:0b:0c" and h["address"].startswith("fe:")
        assert g["link_index"] == h["ifindex"] and h["link_index"] == g["ifindex"]  # one pair
        assert h.get("master") == "br0" and "UP" in g["flags"] and "UP" in h["flags"]
        assert addrs_of(ct, "eth1") == {"198.18.7.1/16", "fd00:5654::7:1/64"}
        assert not h.get("ifalias")  # the pending tag is gone
        assert not [l for l in ip_json("link", "show", netns=ct) if l["ifname"].startswith("vt")]
        topo = show(lab)
        ct101 = next(c for c in topo["containers"] if c["name"] == "ct101")
        assert [i["peer"]["ifname"] for i in ct101["interfaces"] if i["ifname"] == "eth1"] == ["veth101.1"]

        # the guest end: MAC, new address before the old one goes, MTU
        cli(
            "adapter",
            "set",
            "ct101",
            "eth1",
            "--lab",
            lab,
            "--mac",
            "c4:37:72:0a:0b:0d",
            "--add-ip",
            "198.18.7.2/16",
            "--del-ip",
            "198.18.7.1/16",
            "--mtu",
            "1400",
            check=0,
        )
        g = link(ct, "eth1")
        assert g["address"] == "c4:37:72:0a:0b:0d" and g["mtu"] == 1400
        assert addrs_of(ct, "eth1") == {"198.18.7.2/16", "fd00:5654::7:1/64"}
        # the host end: off the bridge, down, then back
        cli("adapter", "set", "ct101", "veth101.1", "--lab", lab, "--no-bridge", "--down", check=0)
        h = link(host, "veth101.1")
        assert "master" not in h and "UP" not in h["flags"]
        cli("adapter", "set", "ct101", "veth101.1", "--lab", lab, "--bridge", "br0", "--up", check=0)
        assert link(host, "veth101.1").get("master") == "br0"
        show(lab)

        before_del = dumps(nss)
        cli("adapter", "del", "ct101", "eth1", "--lab", lab, check=0)
        assert "veth101.1" not in [l["ifname"] for l in ip_json("link", "show", netns=host)]
        assert "eth1" not in [l["ifname"] for l in ip_json("link", "show", netns=ct)]

        cli("undo", check=0)  # undo the delete: the same pair again, addresses, bridge, MACs
        g, h = link(ct, "eth1"), link(host, "veth101.1")
        assert g["address"] == "c4:37:72:0a:0b:0d" and g["mtu"] == 1400 and h.get("master") == "br0"
        assert addrs_of(ct, "eth1") == {"198.18.7.2/16", "fd00:5654::7:1/64"}
        assert _no_index(dumps(nss)) == _no_index(before_del)
        for _ in range(4):  # the two host-end edits, the guest-end edit, the add
            cli("undo", check=0)
        settle(nss)
        assert dumps(nss, sysctls=True) == start
        r = cli("undo", "--json", check=4)
        assert '"undo-empty"' in r.stdout


def _no_index(d: dict) -> dict:
    """A re-created pair gets new ifindexes and link-local addresses from its current MAC
    (an edited MAC leaves the old one's); compare everything else."""
    out = {}
    for ns, v in d.items():
        links = [{k: x for k, x in l.items() if k not in ("ifindex", "link_index")} for l in v["links"]]
        addrs = {n: [a for a in xs if not a[0].startswith("fe80:")] for n, xs in v["addrs"].items()}
        routes = sorted(r for r in v["routes"] if '"fe80:' not in r)
        out[ns] = {"links": sorted(links, key=lambda l: l["ifname"]), "addrs": addrs, "routes": routes}
    return out


def test_routed_adapter(state: str) -> None:  # noqa: F811
    with make_lab(1) as info:
        lab, host = info.name, f"vl-{info.name}-host"
        nss = lab_namespaces(lab, 1)
        start = dumps(nss, sysctls=True)
        out = cli_json(
            "adapter",
            "add",
            "ct101",
            "--lab",
            lab,
            "--ip",
            "198.19.5.5/32",
            "--ip",
            "fd00:5655::5/128",
            "--routed",
            "--host-ifname",
            "vr101",
        )
        h = link(host, "vr101")
        assert "master" not in h
        routes4 = ip_json("route", "show", "dev", "vr101", netns=host)
        routes6 = ip_json("-6", "route", "show", "dev", "vr101", netns=host)
        assert "198.19.5.5" in [r["dst"] for r in routes4]
        assert "fd00:5655::5" in [r["dst"] for r in routes6]
        for path, want in (("ipv4/conf/vr101/proxy_arp", "1"), ("ipv6/conf/vr101/proxy_ndp", "1")):
            got = cli_cat(host, path)
            assert got == want, path
        assert out["after"]["host"]["routes"]
        cli("undo", check=0)
        settle(nss)
        assert dumps(nss, sysctls=True) == start


def cli_cat(ns: str, path: str) -> str:
    import subprocess

    return subprocess.run(
        ["ip", "netns", "exec", ns, "cat", f"/proc/sys/net/{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_half_made_adapters_of_dead_processes_are_removed(state: str) -> None:  # noqa: F811
    """A maker killed mid-add leaves a tagged pair; the next change removes it (and only it)."""
    import subprocess
    import sys

    with make_lab(1) as info:
        host, ct = info.host_netns, f"vl-{info.name}-ct101"
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        alive = os.getpid()
        for name, peer, pid in (
            ("vethdead.0", f"vt{dead.pid:x}-abcd", dead.pid),
            ("vethlive.0", f"vt{alive:x}-abcd", alive),
        ):
            subprocess.run(
                ["ip", "-n", host, "link", "add", name, "type", "veth", "peer", "name", peer, "netns", ct],
                check=True,
            )
            subprocess.run(
                ["ip", "-n", host, "link", "set", name, "alias", f"vnet-tui:pending:{pid}"], check=True
            )
        out = cli_json("adapter", "add", "ct101", "--lab", info.name)
        assert any("vethdead.0" in w and str(dead.pid) in w for w in out["warnings"]), out["warnings"]
        host_links = [l["ifname"] for l in ip_json("link", "show", netns=host)]
        ct_links = [l["ifname"] for l in ip_json("link", "show", netns=ct)]
        assert "vethdead.0" not in host_links and f"vt{dead.pid:x}-abcd" not in ct_links
        assert "vethlive.0" in host_links  # its maker (this test) is alive: not ours to remove
