"""pair-test's policy demos against a real lab: spoofed frames dropped and counted at the host end (and
getting past where no filter is set), a rate limit holding the throughput near it, an unplugged cable.

One lab for the module (containers only): ct101 with a MAC and an IP filter, ct102 with no policy,
ct103 with rate limits both ways.  Every count the tests check against comes from the kernel's own
tools too (``nft -j``, ``tc -j``, ``ip -j``), not only from our reader.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Iterator

import pytest

from tests.helpers import ip_json, unique
from tests.live.test_policy_helpers import nft_json, tc_json
from vnet_tui.lab import LabInfo, lab

pytestmark = [pytest.mark.live, pytest.mark.timeout(300)]

N = 1000
RATE_OUT, RATE_IN = 10_000_000, 8_000_000
BAND = 0.35  # "held near the limit": behaviour, not speed


def vnet(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vnet_tui", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=180)


@pytest.fixture(scope="module")
def pl() -> Iterator[LabInfo]:
    with lab(unique("q"), containers=3, vms=0, seed=13) as info:
        for ct, flags in (("ct101", ["--mac-filter", "on", "--ip-filter", "on"]),
                          ("ct103", ["--rate-out", "10mbit", "--rate-in", "8mbit"])):
            r = vnet("adapter", "set", ct, "eth0", "--lab", info.name, *flags)
            assert r.returncode == 0, r.stderr
        yield info


def pair_test(pl: LabInfo, target: str, *args: str) -> tuple[int, dict[str, Any]]:
    r = vnet("pair-test", target, "eth0", "--lab", pl.name, "--json", *args)
    assert r.stdout.strip(), r.stderr
    return r.returncode, json.loads(r.stdout)


def rule_packets(pl: LabInfo, port: str) -> dict[str, int]:
    """``nft -j list table netdev vnet_tui_PORT``: each rule's counter, by its comment."""
    out: dict[str, int] = {}
    for item in nft_json(pl.host_netns, "list", "table", "netdev", f"vnet_tui_{port}"):
        rule = item.get("rule")
        if rule and rule.get("comment"):
            out[rule["comment"]] = sum(e["counter"]["packets"] for e in rule["expr"] if "counter" in e)
    return out


def tx_packets(netns: str, dev: str) -> int:
    return ip_json("-s", "link", "show", "dev", dev, netns=netns)[0]["stats64"]["tx"]["packets"]


RULES = {"mac": "mac", "arp-mac": "arp-mac", "ipv4": "ipv4", "arp": "arp-ip", "ipv6": "ipv6", "nd": "nd-target"}


@pytest.mark.parametrize("kind", list(RULES))
def test_spoofed_frames_leave_the_guest_end_and_are_dropped_and_counted_at_the_host_end(pl: LabInfo, kind: str):
    ct = pl.container("ct101")
    rule = RULES[kind]
    nft0, tx0 = rule_packets(pl, ct.host_ifname), tx_packets(ct.netns, ct.ifname)
    code, r = pair_test(pl, "ct101", "--spoof", kind, "--frames", str(N))
    assert code == 0, r
    assert r["mode"] == "spoof" and r["status"] == "ok", r["message"]
    sp = r["spoof"]
    assert sp["kind"] == kind and sp["rule"] == rule and sp["filter_set"] is True
    # counted leaving the guest end, counted dropped at the host end by that rule, none past
    assert sp["left_guest"] >= N and sp["dropped_at_host"] == N and sp["got_past"] == 0
    assert r["sent"] == N and r["received"] == 0 and r["lost"] == 0 and r["dropped_by_policy"] == N
    assert f"{N:,} spoofed frames" in r["message"] and f"{N:,} dropped at the host end" in r["message"]
    # the kernel's own tools agree: nft's rule counter, ip's tx counter
    nft1 = rule_packets(pl, ct.host_ifname)
    assert nft1[rule] - nft0.get(rule, 0) == N
    assert all(nft1[k] == nft0.get(k, 0) for k in nft1 if k != rule), (nft0, nft1)  # no other rule dropped them
    assert tx_packets(ct.netns, ct.ifname) - tx0 >= N
    # the mirror: the wire is in step, and the policy explains what went no further — not a loss
    (d,) = [d for d in r["mirror"]["directions"] if d["from"] == "guest"]
    assert d["verdict"] == "policy" and d["ok"] is True and r["mirror"]["ok"] is True
    assert d["policy"]["dropped"] == N and d["policy"]["by"] in ("mac filter", "ip filter")
    assert d["transmitted"] >= N and d["received"] >= N


def test_without_a_filter_the_spoofed_frames_get_past(pl: LabInfo):
    code, r = pair_test(pl, "ct102", "--spoof", "mac", "--frames", str(N))
    assert code == 1, r
    assert r["status"] == "got-past", r["message"]
    sp = r["spoof"]
    assert sp["filter_set"] is False and sp["dropped_at_host"] == 0 and sp["got_past"] == N
    assert "got past" in r["message"] and "no mac filter" in r["message"]
    (d,) = [d for d in r["mirror"]["directions"] if d["from"] == "guest"]
    assert d["verdict"] == "equal" and d["policy"] is None
    # a filter that does not cover the kind lets it past too: a MAC filter alone does not judge IP sources
    r2 = vnet("adapter", "set", "ct102", "eth0", "--lab", pl.name, "--mac-filter", "on")
    assert r2.returncode == 0, r2.stderr
    try:
        code, r = pair_test(pl, "ct102", "--spoof", "ipv4", "--frames", "200")
        assert code == 1 and r["status"] == "got-past" and r["spoof"]["got_past"] == 200, r["message"]
    finally:
        assert vnet("adapter", "set", "ct102", "eth0", "--lab", pl.name, "--mac-filter", "off").returncode == 0


def test_rate_out_holds_the_guests_throughput_near_the_limit(pl: LabInfo):
    code, r = pair_test(pl, "ct103", "--throughput", "4")
    tp = r["throughput"]
    assert tp["direction"] == "rate_out" and r["from"] == "guest" and tp["mechanism"] == "nft-limit"
    assert tp["limit_bps"] == RATE_OUT
    assert tp["offered_bps"] >= 1.5 * RATE_OUT, "the sender offered too little: no test of the limit"
    assert 1 - BAND <= tp["held_bps"] / RATE_OUT <= 1 + BAND, r["message"]
    assert code == 0 and r["status"] == "ok", r["message"]
    assert tp["drops"]["rate_out"]["packets"] > 0  # the policer dropped what was over
    assert len(tp["per_second_bps"]) == 4 and "held at" in r["message"] and "against a limit of 10 Mbit/s" in r["message"]
    (d,) = [d for d in r["mirror"]["directions"] if d["from"] == "guest"]
    # the policer's drops are named as policy; a frame the kernel itself dropped on the wire (a receive
    # backlog overflowing on a loaded machine) stays a loss, with the policy drops still named beside it
    assert d["policy"]["by"] == "rate-out policer" and d["policy"]["dropped"] == tp["drops"]["rate_out"]["packets"]
    assert d["verdict"] == "policy" or (d["verdict"] == "loss" and d["dropped"] > 0), d


def test_rate_in_holds_what_the_guest_receives_near_the_limit(pl: LabInfo):
    ct = pl.container("ct103")
    (tbf,) = [q for q in tc_json(pl.host_netns, "qdisc", "show", "dev", ct.host_ifname) if q["kind"] == "tbf"]
    code, r = pair_test(pl, "ct103", "--throughput", "4", "--from", "host")
    tp = r["throughput"]
    assert tp["direction"] == "rate_in" and tp["mechanism"] == "tbf" and r["from"] == "host"
    assert tp["limit_bps"] == RATE_IN == tbf["options"]["rate"] * 8  # the limit as tc shows it
    assert tp["offered_bps"] >= 1.5 * RATE_IN
    assert 1 - BAND <= tp["held_bps"] / RATE_IN <= 1 + BAND, r["message"]
    assert code == 0 and r["status"] == "ok", r["message"]
    assert tp["drops"]["rate_in"]["drops"] > 0


def test_without_a_limit_the_throughput_is_measured_and_said_to_have_none(pl: LabInfo):
    code, r = pair_test(pl, "ct102", "--throughput", "1")
    assert code == 1 and r["status"] == "no-limit", r["message"]
    assert r["throughput"]["limit_bps"] is None and r["throughput"]["frames_arrived"] > 0
    assert "no rate-out limit" in r["message"]


def test_an_unplugged_cable_shows_the_guest_end_without_carrier(pl: LabInfo):
    ct = pl.container("ct102")
    assert vnet("adapter", "set", "ct102", "eth0", "--lab", pl.name, "--cable", "unplugged").returncode == 0
    try:
        (g,) = ip_json("link", "show", "dev", ct.ifname, netns=ct.netns)
        assert "NO-CARRIER" in g["flags"] and "UP" in g["flags"]  # as the kernel has it
        for args in ((), ("--spoof", "mac"), ("--throughput", "1")):
            code, r = pair_test(pl, "ct102", *args)
            assert code == 1, r
            assert r["status"] == "no-carrier" and r["sent"] == 0, r["message"]
            assert "no carrier" in r["message"] and "cable is unplugged" in r["message"]
            assert r["cable"]["guest_carrier"] is False and r["cable"]["state"] == "unplugged"
    finally:
        assert vnet("adapter", "set", "ct102", "eth0", "--lab", pl.name, "--cable", "plugged").returncode == 0
    # the guest end down by its own hand is another thing: end-down, not the cable
    subprocess.run(["ip", "-n", ct.netns, "link", "set", ct.ifname, "down"], check=True)
    try:
        code, r = pair_test(pl, "ct102")
        assert code == 1 and r["status"] == "end-down" and "cable" not in r, r
    finally:
        subprocess.run(["ip", "-n", ct.netns, "link", "set", ct.ifname, "up"], check=True)


def test_a_spoof_test_from_the_host_end_is_refused(pl: LabInfo):
    code, r = pair_test(pl, "ct101", "--spoof", "mac", "--from", "host")
    assert code == 2 and r["error"]["rule"] == "pair-mode"
    r2 = vnet("pair-test", "ct101", "eth0", "--lab", pl.name, "--spoof", "mac", "--throughput", "2")
    assert r2.returncode == 2  # one test at a time (argparse)
