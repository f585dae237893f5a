"""pair-test --isolation against a real lab: frames the host end's isolation forbids are held back before the
guest end, each kind by exactly one flag, the control always arrives, and the probe ports leave no trace.

One lab for the module (containers only): ct101 with ``--isolated on``, ct102 with no policy, ct103 for
the refusals.  Every flag and count the tests check against comes from the kernel's own tools too
(``bridge -j``, ``ip -j -s``), not only from our reader.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any, Iterator

import pytest

from tests.helpers import ip_json, root_net_state, unique
from tests.live.test_policy_helpers import bridge_port
from vnet_tui.lab import LabInfo, lab

pytestmark = [pytest.mark.live, pytest.mark.timeout(300)]

N = 500
HELD = ("unknown-unicast", "isolated-unicast", "isolated-broadcast")


def vnet(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vnet_tui", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=180)


@pytest.fixture(scope="module")
def il() -> Iterator[LabInfo]:
    with lab(unique("i"), containers=3, vms=0, seed=13) as info:
        r = vnet("adapter", "set", "ct101", "eth0", "--lab", info.name, "--isolated", "on")
        assert r.returncode == 0, r.stderr
        yield info


def pair_test(il: LabInfo, target: str, *args: str) -> tuple[int, dict[str, Any]]:
    r = vnet("pair-test", target, "eth0", "--lab", il.name, "--json", "--isolation", *args)
    assert r.stdout.strip(), r.stderr
    return r.returncode, json.loads(r.stdout)


def host_links(il: LabInfo) -> list[dict[str, Any]]:
    return [{k: l.get(k) for k in ("ifname", "address", "mtu", "master")}
            for l in ip_json("link", "show", netns=il.host_netns)]


def probes_left(il: LabInfo) -> list[str]:
    return [l["ifname"] for l in host_links(il) if l["ifname"].startswith("vniso")]


def rx_packets(netns: str, dev: str) -> int:
    return ip_json("-s", "link", "show", "dev", dev, netns=netns)[0]["stats64"]["rx"]["packets"]


def dropped(netns: str, dev: str, way: str) -> int:
    return ip_json("-s", "link", "show", "dev", dev, netns=netns)[0]["stats64"][way]["dropped"]


def fdb_macs(il: LabInfo) -> set[str]:
    out = subprocess.run(["bridge", "-n", il.host_netns, "-j", "fdb", "show", "br", "br0"], check=True,
                         capture_output=True, text=True).stdout
    return {e["mac"] for e in json.loads(out or "[]")}


def test_an_isolated_adapter_gets_none_of_what_isolation_forbids_and_all_of_the_control(il: LabInfo):
    ct = il.container("ct101")
    bp = bridge_port(il.host_netns, ct.host_ifname)
    assert (bp["isolated"], bp["flood"]) == (True, False)  # as the kernel has it
    links0, rx0 = host_links(il), rx_packets(ct.netns, ct.ifname)
    code, r = pair_test(il, "ct101", "--frames", str(N))
    assert code == 0 and r["status"] == "ok", r["message"]
    assert r["mode"] == "isolation" and r["from"] == "probe"
    iso = r["isolation"]
    assert iso["flags"]["isolated"] is True and iso["flags"]["unicast_flood"] is False
    assert iso["guest_mac_known"] is True
    for name in HELD:
        k = iso["kinds"][name]
        assert (k["sent"], k["arrived"], k["held_back"], k["held_by_flags"]) == (N, 0, N, True), (name, k)
    ctl = iso["kinds"]["open-broadcast"]
    # the control arrives: all of it, but for what the kernel counted dropped on the way (a busy machine's full
    # receive backlog: other tests share it)
    assert ctl["sent"] == N and ctl["held_back"] == 0 and ctl["arrived"] + ctl["lost"] == N and ctl["arrived"] > 0
    assert ctl["lost"] <= r["dropped_on_the_way"]
    assert iso["kinds"]["isolated-unicast"]["to"] == ct.mac
    # the kernel's own counters: every frame entered the bridge from its probe port; the guest end received
    # the control and nothing of the 3 x N held back (other lab chatter is a few frames, never N)
    assert [p["entered_bridge"] for p in iso["probes"]] == [2 * N, 2 * N]
    assert [p["flags"]["isolated"] for p in iso["probes"]] == [0, 1]
    assert ctl["arrived"] <= rx_packets(ct.netns, ct.ifname) - rx0 < 2 * N
    assert r["sent"] == 4 * N and r["received"] == ctl["arrived"] and r["dropped_by_policy"] == 3 * N
    assert f"{3 * N:,} of {3 * N:,} frames" in r["message"] and "0 got past" in r["message"]
    (d,) = [d for d in r["mirror"]["directions"] if d["from"] == "host"]
    assert d["verdict"] == "policy" and d["policy"]["dropped"] == 3 * N and "isolated" in d["policy"]["by"]
    # the probe ports are gone, and the bridge, its other ports and its FDB are as they were
    assert probes_left(il) == [] and host_links(il) == links0 and iso["bridge_unchanged"] is True
    assert not [m for m in fdb_macs(il) if m.startswith("fe:ff:")]


def test_without_isolation_every_kind_gets_past_and_the_message_names_the_setting(il: LabInfo):
    ct = il.container("ct102")
    assert bridge_port(il.host_netns, ct.host_ifname)["isolated"] is False
    rx0, drops0 = rx_packets(ct.netns, ct.ifname), dropped(il.host_netns, ct.host_ifname, "tx")
    code, r = pair_test(il, "ct102", "--frames", str(N))
    assert code == 1 and r["status"] == "got-past", r["message"]
    lost = 0
    for name in (*HELD, "open-broadcast"):
        k = r["isolation"]["kinds"][name]
        assert k["sent"] == N and k["held_back"] == 0 and k["arrived"] + k["lost"] == N, (name, k)
        assert k["held_by_flags"] is False and k["arrived"] > N // 2
        lost += k["lost"]
    # every frame that did not arrive is one the kernel counted dropped on the way (ip -s: the host end's tx)
    assert lost <= r["dropped_on_the_way"] and \
        lost <= dropped(il.host_netns, ct.host_ifname, "tx") - drops0 + r["capture_drops"]
    assert rx_packets(ct.netns, ct.ifname) - rx0 >= 4 * N - lost
    assert "adapter set ct102 eth0 --isolated on" in r["message"] and f"{3 * N:,} got past" in r["message"]
    assert r["dropped_by_policy"] == 0
    (d,) = [d for d in r["mirror"]["directions"] if d["from"] == "host"]
    assert d["policy"] is None
    assert probes_left(il) == []


@pytest.mark.parametrize("flags,held,past", [
    (("isolated", "on", "flood", "on"), ("isolated-unicast", "isolated-broadcast"), ("unknown-unicast",)),
    (("isolated", "off", "flood", "off"), ("unknown-unicast",), ("isolated-unicast", "isolated-broadcast")),
])
def test_each_kind_is_held_back_by_its_one_flag(il: LabInfo, flags: tuple[str, ...], held: tuple[str, ...],
                                                past: tuple[str, ...]):
    ct = il.container("ct102")
    subprocess.run(["bridge", "-n", il.host_netns, "link", "set", "dev", ct.host_ifname, *flags], check=True)
    try:
        code, r = pair_test(il, "ct102", "--frames", "200")
        kinds = r["isolation"]["kinds"]
        assert all(kinds[k]["arrived"] == 0 and kinds[k]["held_back"] == 200 for k in held), kinds
        assert all(kinds[k]["arrived"] > 100 and kinds[k]["arrived"] + kinds[k]["lost"] == 200 for k in past), kinds
        assert kinds["open-broadcast"]["arrived"] > 100
        assert sum(k["lost"] for k in kinds.values()) <= r["dropped_on_the_way"]
        assert code == 1 and r["status"] == "got-past" and "--isolated on" in r["message"], r["message"]
        assert "partial" in r["message"]
    finally:
        subprocess.run(["bridge", "-n", il.host_netns, "link", "set", "dev", ct.host_ifname, "isolated", "off",
                        "flood", "on"], check=True)
    assert probes_left(il) == []


def test_ctrl_c_removes_the_probe_ports(il: LabInfo):
    p = subprocess.Popen([sys.executable, "-m", "vnet_tui", "pair-test", "ct102", "eth0", "--lab", il.name,
                          "--isolation", "--frames", "100000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        deadline = time.monotonic() + 60
        while len(probes_left(il)) < 4 and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.1)
        assert len(probes_left(il)) == 4, "the probe ports (2 veth pairs) never appeared"
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode != 0
    assert probes_left(il) == []


def test_bad_input_is_refused_by_rule_and_changes_nothing(il: LabInfo):
    root0, links0 = root_net_state(), host_links(il)
    code, r = pair_test(il, "ct101", "--from", "guest")
    assert code == 2 and r["error"]["rule"] == "pair-mode", r
    r2 = vnet("pair-test", "ct101", "eth0", "--lab", il.name, "--isolation", "--spoof", "mac")
    assert r2.returncode == 2 and "not allowed with" in r2.stderr  # one test at a time (argparse)
    ct = il.container("ct103")
    subprocess.run(["ip", "-n", il.host_netns, "link", "set", ct.host_ifname, "nomaster"], check=True)
    try:
        links1 = host_links(il)
        code, r = pair_test(il, "ct103")
        assert code == 2 and r["error"]["rule"] == "isolated-not-bridge-port", r
        assert "not on a bridge" in r["error"]["message"]
        assert host_links(il) == links1
    finally:
        subprocess.run(["ip", "-n", il.host_netns, "link", "set", ct.host_ifname, "master", "br0"], check=True)
    assert host_links(il) == links0 and root_net_state() == root0
