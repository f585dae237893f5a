"""Every validation rule, live: a bad input exits 2 (4: no such thing) naming its rule, and
the lab's links, addresses, routes and sysctls are byte-for-byte what they were.

The commands run in-process through ``vnet_tui.cli.main`` (the same code
path as the binary, ~20× faster); a few run as real processes to prove
the exit status and JSON on stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.live.test_ops_support import cli, cli_json, dumps, lab_namespaces, make_lab
from tests.live.test_ops_support import state  # noqa: F401, I001 (a fixture, used by name)
from vnet_tui.cli import main

pytestmark = [pytest.mark.live, pytest.mark.timeout(180)]

ADD = [
    (["ct999"], "target", 4),
    (["ct101", "--ifname", "eth0"], "ifname-taken", 2),
    (["ct101", "--host-ifname", "veth101.0"], "ifname-taken", 2),
    (["ct101", "--ifname", "bad name"], "ifname", 2),
    (["ct101", "--ifname", "a" * 16], "ifname", 2),
    (["ct101", "--host-ifname", "x/y"], "ifname", 2),
    (["ct101", "--mac", "c4:37:72:00:00"], "mac-syntax", 2),
    (["ct101", "--mac", "c4-37:72:00:00:01"], "mac-syntax", 2),
    (["ct101", "--mac", "00:00:00:00:00:00"], "mac-zero", 2),
    (["ct101", "--mac", "01:00:5e:00:00:01"], "mac-multicast", 2),
    (["ct101", "--host-mac", "ff:ff:ff:ff:ff:ff"], "mac-broadcast", 2),
    (["ct101", "--mac", "{ct102_mac}"], "mac-duplicate", 2),
    (["ct101", "--host-mac", "{vm_mac}"], "mac-duplicate", 2),
    (["ct101", "--mac", "{br_mac}"], "mac-duplicate", 2),
    (["ct101", "--ip", "198.18.5.1"], "ip-syntax", 2),
    (["ct101", "--ip", "198.18.5.1/33"], "ipv4-prefix", 2),
    (["ct101", "--ip", "198.18.5.0/24"], "ipv4-network-address", 2),
    (["ct101", "--ip", "198.18.5.255/24"], "ipv4-broadcast-address", 2),
    (["ct101", "--ip", "127.0.0.2/8"], "ipv4-reserved", 2),
    (["ct101", "--ip", "224.0.0.9/24"], "ipv4-reserved", 2),
    (["ct101", "--ip", "fd00::1/129"], "ipv6-prefix", 2),
    (["ct101", "--ip", "::/64"], "ipv6-unspecified", 2),
    (["ct101", "--ip", "ff02::1/64"], "ipv6-multicast", 2),
    (["ct101", "--ip", "::1/128"], "ipv6-loopback", 2),
    (["ct101", "--ip", "198.18.5.1/24", "--ip", "198.18.5.1/16"], "ip-repeated", 2),
    (["ct101", "--mtu", "67"], "mtu", 2),
    (["ct101", "--mtu", "65536"], "mtu", 2),
    (["ct101", "--ip", "198.18.5.1/24", "--bridge", "br0", "--routed"], "bridge-or-routed", 2),
    (["ct101", "--routed"], "routed-needs-ip", 2),
    (["ct101", "--bridge", "br9"], "bridge", 4),
    (["ct101", "--bridge", "veth101.0"], "bridge-kind", 2),
    (["vm201", "--ip", "198.18.5.1/24"], "vm-ip", 2),
    (["vm201", "--routed"], "vm-routed", 2),
    (["vm201", "--ifname", "eth1"], "vm-ifname", 2),
    (["vm201", "--mtu", "65522"], "mtu", 2),
]
SET = [
    (["ct101", "eth9", "--mtu", "1400"], "interface", 4),
    (["ct101", "lo", "--mtu", "1400"], "not-an-adapter", 2),
    (["ct101", "eth0"], "nothing-to-change", 2),
    (["ct101", "eth0", "--mtu", "1500"], "nothing-to-change", 2),
    (["ct101", "eth0", "--add-ip", "{ct101_ip}"], "ip-exists", 2),
    (["ct101", "eth0", "--del-ip", "198.18.9.9/16"], "ip-absent", 2),
    (["ct101", "eth0", "--add-ip", "198.18.9.9"], "ip-syntax", 2),
    (["ct101", "eth0", "--mac", "{ct102_mac}"], "mac-duplicate", 2),
    (["ct101", "eth0", "--bridge", "br0"], "bridge-guest-end", 2),
    (["ct101", "veth101.0", "--bridge", "br0", "--no-bridge"], "bridge-or-nobridge", 2),
    (["ct101", "eth0", "--up", "--down"], "up-or-down", 2),
    (["ct101", "eth0", "--no-bridge"], "not-on-bridge", 2),
    (["ct101", "veth101.0", "--mtu", "70000"], "mtu", 2),
    (["vm201", "net0", "--end", "guest", "--mac", "c4:37:72:99:99:99"], "vm-guest-mac-live", 2),
    (["vm201", "net0", "--end", "guest", "--mtu", "1400"], "vm-guest-end", 2),
    (["vm201", "net0", "--end", "host", "--add-ip", "198.18.5.1/24"], "vm-ip", 2),
    (["vm201", "net0", "--add-ip", "198.18.5.1/24"], "guest-agent-unavailable", 2),  # a paused lab VM
    (["vm201", "net9", "--mtu", "1400"], "interface", 4),
]
DEL = [
    (["ct101", "eth7"], "interface", 4),
    (["ct999", "eth0"], "target", 4),
    (["ct101", "lo"], "not-an-adapter", 2),
]


def drop_capabilities() -> None:
    """In the child: still uid 0, but CAP_NET_ADMIN gone from the bounding set (so exec keeps it out)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    PR_CAPBSET_DROP, CAP_NET_ADMIN = 24, 12
    if libc.prctl(PR_CAPBSET_DROP, CAP_NET_ADMIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = main(argv + ["--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def test_every_rule_refuses_and_changes_nothing(state: str, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    with make_lab(2, vms=1) as info:
        lab, nss = info.name, lab_namespaces(info.name, 2)
        topo = cli_json("show", "--lab", lab)
        cts = {c["name"]: c for c in topo["containers"]}
        facts = {
            "ct102_mac": next(i["mac"] for i in cts["ct102"]["interfaces"] if i["ifname"] == "eth0"),
            "ct101_ip": next(i["addresses"][0] for i in cts["ct101"]["interfaces"] if i["ifname"] == "eth0"),
            "vm_mac": topo["vms"][0]["adapters"][0]["guest_mac"],
            "br_mac": next(i["mac"] for i in topo["host"]["interfaces"] if i["ifname"] == "br0"),
        }
        start = dumps(nss, sysctls=True)
        cases = (
            [(["adapter", "add"] + a, r, c) for a, r, c in ADD]
            + [(["adapter", "set"] + a, r, c) for a, r, c in SET]
            + [(["adapter", "del"] + a, r, c) for a, r, c in DEL]
        )
        seen = set()
        for argv, rule, code in cases:
            argv = [w.format(**facts) for w in argv] + ["--lab", lab]
            got, out = run(argv, capsys)
            assert (got, out.get("error", {}).get("rule")) == (code, rule), f"{argv}: {out}"
            assert out["error"]["code"] == code and out["error"]["message"]
            seen.add(rule)
        assert dumps(nss, sysctls=True) == start, "a refused change changed something"
        assert len(seen) >= 37

        # the same through real processes: exit status and JSON error on stdout
        r = cli("adapter", "add", "ct101", "--lab", lab, "--mac", "01:00:5e:00:00:01", "--json", check=2)
        assert json.loads(r.stdout)["error"]["rule"] == "mac-multicast"
        r = cli("adapter", "add", "ct101", "--lab", lab, "--ip", "198.18.5.0/24", check=2)
        assert "[ipv4-network-address]" in r.stderr and r.stdout == ""
        r = cli("adapter", "del", "ct101", "eth7", "--lab", lab, "--json", check=4)
        assert json.loads(r.stdout)["error"]["rule"] == "interface"
        r = cli("undo", "--json", check=4)
        assert json.loads(r.stdout)["error"]["rule"] == "undo-empty"
        r = cli("adapter", "confirm", "--json", check=4)
        assert json.loads(r.stdout)["error"]["rule"] == "confirm"

        # no CAP_NET_ADMIN: refused before anything (exit 3), still nothing changed
        r = subprocess.run(
            [sys.executable, "-m", "vnet_tui", "adapter", "add", "ct101", "--lab", lab, "--json"],
            capture_output=True,
            text=True,
            preexec_fn=drop_capabilities,
            env={**os.environ, "VNET_TUI_STATE": state},
        )
        assert r.returncode == 3 and json.loads(r.stdout)["error"]["rule"] == "privilege", r.stdout + r.stderr
        assert dumps(nss, sysctls=True) == start
