"""pair-test on a lab VM's adapter: the cable unplugged through QMP → no-carrier, read inside the guest;
--spoof mac|ipv4 sent by the guest itself through its agent, and the guest restored; --throughput against
the tap's rate-in (the guest counts what arrives) and rate-out (the guest pings at 3× the limit)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Iterator

import pytest

from tests.helpers import unique
from vnet_tui.guest.qga import QGA
from vnet_tui.lab import LabInfo, guest_boot, lab, wait_for_guests
from vnet_tui.ops.guestagent import guest_exec

pytestmark = [pytest.mark.live, pytest.mark.qemu, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def vl() -> Iterator[LabInfo]:
    with lab(unique("p"), containers=0, vms=1, seed=13, boot=guest_boot()) as info:
        late = wait_for_guests({"vm201": info.vm("vm201").qga}, timeout=240)
        assert not late, f"{late}; console: {open(info.vm('vm201').console, errors='replace').read()[-2000:]}"
        yield info


def cli(info: LabInfo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vnet_tui", *args, "--lab", info.name], capture_output=True,
                          text=True, env=dict(os.environ), timeout=300)


def pair_test(info: LabInfo, *extra: str) -> tuple[int, dict[str, Any]]:
    r = cli(info, "pair-test", "vm201", "net0", "--frames", "20", "--json", *extra)
    return r.returncode, json.loads(r.stdout)


def guest(info: LabInfo, script: str) -> str:
    with QGA(info.vm("vm201").qga, timeout=20) as q:
        code, out = guest_exec(q, ["/bin/sh", "-c", script], timeout=20)
    assert code == 0, out
    return out


def test_an_unplugged_vm_cable_is_no_carrier_and_plugged_back_it_is_ok(vl):
    code, r = pair_test(vl)
    assert code == 0 and r["status"] == "ok" and r["received"] == 20, r
    set_ = cli(vl, "adapter", "set", "vm201", "net0", "--cable", "unplugged")
    assert set_.returncode == 0, set_.stderr
    try:
        assert guest(vl, "cat /sys/class/net/eth0/carrier") == "0"
        # the guest kernel's linkwatch turns operstate down up to a second after carrier (CI saw "up")
        assert guest(vl, "for i in $(seq 50); do [ $(cat /sys/class/net/eth0/operstate) = down ] && break; "
                         "sleep 0.1; done; cat /sys/class/net/eth0/operstate") == "down"
        code, r = pair_test(vl)
        assert code == 1 and r["status"] == "no-carrier", r
        assert r["sent"] == 0 and r["ends"] == {"guest": None, "host": None}
        assert r["cable"] == {"state": "unplugged", "guest_carrier": False, "guest_admin_up": True,
                              "guest_operstate": "down"}
        assert "--cable plugged" in r["message"]
        text = cli(vl, "pair-test", "vm201", "net0", "--frames", "20")
        assert text.returncode == 1 and "no carrier: eth0 in vm201 (guest end) is up but has no carrier" in text.stdout
    finally:
        back = cli(vl, "adapter", "set", "vm201", "net0", "--cable", "plugged")
        assert back.returncode == 0, back.stderr
    assert guest(vl, "cat /sys/class/net/eth0/carrier") == "1"
    code, r = pair_test(vl)
    assert code == 0 and r["status"] == "ok" and r["received"] == 20 and "cable" not in r, r


def guest_state(info: LabInfo) -> tuple[str, str, bool]:
    """(the NIC's MAC, its IPv4 addresses, whether the test's neighbour entry is there) inside the guest,
    through the agent (other neighbours come and go as the guest learns them)."""
    return (guest(info, "cat /sys/class/net/eth0/address"), guest(info, "ip -4 -o addr show dev eth0"),
            "(198.18.255.67)" in guest(info, "arp -an -i eth0"))


@pytest.mark.parametrize("kind, rule, setting", [
    ("mac", "mac", ("--mac-filter", "on")),
    ("ipv4", "ipv4", ("--ip-filter", "198.18.200.1,fd00:5654::200:1")),
])
def test_the_vms_guest_sends_spoofed_pings_that_get_past_without_a_filter_and_are_dropped_with_one(
        vl, kind, rule, setting):
    vm = vl.vm("vm201")
    before = guest_state(vl)
    assert before[0] == vm.guest_mac.lower() and not before[2]
    code, r = pair_test(vl, "--spoof", kind, "--frames", "300")
    assert code == 1 and r["status"] == "got-past", r
    sp = r["spoof"]
    assert r["mode"] == "spoof" and r["from"] == "guest" and sp["sender"] == "guest" and not sp["filter_set"]
    assert r["sent"] == 300 and sp["left_guest"] >= 300 and sp["got_past"] == 300 and sp["dropped_at_host"] == 0
    assert sp["guest_restored"] is True and guest_state(vl) == before
    assert f"{setting[0]} {setting[1] if kind == 'ipv4' else 'on'}" in r["message"]
    set_ = cli(vl, "adapter", "set", "vm201", "net0", *setting)
    assert set_.returncode == 0, set_.stderr
    try:
        code, r = pair_test(vl, "--spoof", kind, "--frames", "300")
        assert code == 0 and r["status"] == "ok", r
        sp = r["spoof"]
        # the rule counts every frame the guest sent while forged: the 300 pings, and whatever else its
        # kernel sent with that source then (an IPv6 solicitation after the MAC change): at least 300
        assert sp["filter_set"] and sp["dropped_at_host"] >= 300 and sp["got_past"] == 0
        assert sp["dropped_at_host"] == r["dropped_by_policy"] == sp["drops"]["rules"][rule]
        assert sp["left_guest"] >= 300
        assert r["mirror"]["directions"][0]["verdict"] == "policy"
        assert sp["guest_restored"] is True and guest_state(vl) == before
        text = cli(vl, "pair-test", "vm201", "net0", "--spoof", kind, "--frames", "50")
        assert text.returncode == 0 and "vm201's guest sent 50 pings with a spoofed" in text.stdout, text.stdout
        code, r = pair_test(vl)  # the guest's own traffic still passes the filter
        assert code == 0 and r["received"] == 20, r
    finally:
        off = cli(vl, "adapter", "set", "vm201", "net0", setting[0], "off")
        assert off.returncode == 0, off.stderr
    assert guest_state(vl) == before


def test_vm_modes_the_guest_cannot_do_are_refused_with_their_rule(vl):
    for extra, rule in ((("--spoof", "arp"), "spoof-kind-needs-container"),
                        (("--spoof", "ipv6"), "spoof-kind-needs-container")):
        r = cli(vl, "pair-test", "vm201", "net0", *extra, "--json")
        assert r.returncode == 2, r.stderr
        err = json.loads(r.stdout)["error"]
        assert err["rule"] == rule, err
    assert "busybox" in err["message"]


def test_a_guest_left_forged_is_seen_and_restored_through_its_agent(vl):
    """What the spoof test does after its script: ask the agent whether the guest is as it was, and restore
    it when not (here the guest is left forged by hand, as a script cut short would leave it)."""
    from vnet_tui.pair import vmspoof

    vm = vl.vm("vm201")
    mac = vm.guest_mac.lower()
    before = guest_state(vl)
    guest(vl, f"ip link set eth0 address {vmspoof.forge.SPOOF_MAC}; ip addr add {vmspoof.forge.SPOOF_V4}/32 dev eth0; "
              f"arp -i eth0 -s {vmspoof.TARGET} 02:00:00:00:00:01")
    try:
        ok, off = vmspoof._restored(vm.qga, "mac", mac, "eth0")
        assert not ok and f"not {mac}" in off and vmspoof.forge.SPOOF_V4 in off and vmspoof.TARGET in off
        vmspoof._restore(vm.qga, "mac", mac, "eth0")
        vmspoof._restore(vm.qga, "ipv4", mac, "eth0")
        assert vmspoof._restored(vm.qga, "mac", mac, "eth0") == (True, "")
    finally:
        guest(vl, f"ip link set eth0 address {mac}; ip addr del {vmspoof.forge.SPOOF_V4}/32 dev eth0 2>/dev/null; "
                  f"arp -i eth0 -d {vmspoof.TARGET} 2>/dev/null; true")
    assert guest_state(vl) == before


RATE = 8_000_000  # the limits the throughput tests set: 8mbit
BAND = 0.35  # the product's "held near the limit"


def set_limit(info: LabInfo, *args: str) -> None:
    r = cli(info, "adapter", "set", "vm201", "net0", *args)
    assert r.returncode == 0, r.stderr


def test_a_vm_rate_in_holds_what_its_guest_receives_near_the_limit(vl):
    set_limit(vl, "--rate-in", "8mbit")
    try:
        code, r = pair_test(vl, "--throughput", "4", "--from", "host")
        tp = r["throughput"]
        assert r["mode"] == "throughput" and r["from"] == "host" and r["method"] == "guest-counters", r
        assert tp["direction"] == "rate_in" and tp["mechanism"] == "tbf" and tp["limit_bps"] == RATE
        assert tp["offered_bps"] >= 1.5 * RATE, r["message"]
        assert 1 - BAND <= tp["held_bps"] / RATE <= 1 + BAND, r["message"]
        assert code == 0 and r["status"] == "ok", r["message"]
        assert tp["drops"]["rate_in"]["drops"] > 0 and len(tp["per_second_bps"]) == 4
        # what the tap let out is what the guest counted (its agent), and the tbf's drops are policy
        g, h = r["ends"]["guest"], r["ends"]["host"]
        assert g["rx_packets"] >= tp["frames_arrived"] > 0 and h["tx_packets"] >= tp["frames_arrived"]
        assert g["rx_dropped"] == 0  # the frames are IPv6 with no next header: taken quietly, not dropped
        (d,) = [d for d in r["mirror"]["directions"] if d["from"] == "host"]
        assert d["policy"]["by"] == "rate-in (tbf)" and d["policy"]["dropped"] == tp["drops"]["rate_in"]["drops"]
        text = cli(vl, "pair-test", "vm201", "net0", "--throughput", "2", "--from", "host")
        assert "against a limit of 8 Mbit/s (rate-in on" in text.stdout and "its tbf" in text.stdout, text.stdout
    finally:
        set_limit(vl, "--rate-in", "off")


def test_a_vm_rate_out_holds_what_its_guest_sends_near_the_limit(vl):
    before = guest(vl, "arp -an -i eth0")
    set_limit(vl, "--rate-out", "8mbit")
    try:
        code, r = pair_test(vl, "--throughput", "4")  # the default sender: the direction with a limit
        tp = r["throughput"]
        assert r["mode"] == "throughput" and r["from"] == "guest" and r["method"] == "guest-pings", r
        assert tp["direction"] == "rate_out" and tp["mechanism"] == "nft-limit" and tp["limit_bps"] == RATE
        assert tp["offered_bps"] >= 1.5 * RATE, r["message"]  # else limit-not-reached: the guest too slow
        assert 1 - BAND <= tp["held_bps"] / RATE <= 1 + BAND, r["message"]
        assert code == 0 and r["status"] == "ok", r["message"]
        assert tp["drops"]["rate_out"]["packets"] > 0
        assert tp["frames_sent"] > tp["frames_arrived"] > 0
        # every frame the guest sent reached the tap, counted before its ingress hook; the policer's drops
        # make up the rest (a frame or two of the guest's own besides the pings)
        g, h = r["ends"]["guest"], r["ends"]["host"]
        assert g["tx_packets"] >= tp["frames_sent"] and h["rx_packets"] >= tp["frames_sent"]
        assert tp["frames_sent"] - tp["frames_arrived"] <= tp["drops"]["rate_out"]["packets"]
        (d,) = [d for d in r["mirror"]["directions"] if d["from"] == "guest"]
        assert d["policy"]["by"] == "rate-out policer"
        assert r["guest_restored"] is True
    finally:
        set_limit(vl, "--rate-out", "off")
    # the test's neighbour entry is gone from the guest
    assert "198.18.255.68" not in guest(vl, "arp -an -i eth0") and "198.18.255.68" not in before


@pytest.mark.parametrize("extra, direction", [((), "rate_out"), (("--from", "host"), "rate_in")])
def test_a_vm_adapter_without_a_limit_is_measured_and_said_to_have_none(vl, extra, direction):
    code, r = pair_test(vl, "--throughput", "2", *extra)
    assert code == 1 and r["status"] == "no-limit", r["message"]
    tp = r["throughput"]
    assert tp["direction"] == direction and tp["limit_bps"] is None and tp["frames_arrived"] > 0
    assert tp["held_bps"] > 0 and f"no {direction.replace('_', '-')} limit" in r["message"]


def test_a_throughput_test_on_a_vm_vnet_tui_did_not_make_is_refused(vl):
    """Only our lab guests' agents run commands for us: the same VM, said to be another manager's."""
    from vnet_tui.core.errors import NotPermitted
    from vnet_tui.core.server import Server
    from vnet_tui.discovery.topology import discover
    from vnet_tui.pair import run_pair_test

    server = Server(lab=vl.name)
    topology = discover(server)
    (vm,) = [v for v in topology.vms if v.name == "vm201"]
    assert vm.runtime == "lab"
    vm.runtime = "libvirt"
    with pytest.raises(NotPermitted) as e:
        run_pair_test(server, "vm201", "net0", topology=topology, throughput=2.0)
    assert e.value.rule == "guest-agent-not-ours" and "throughput" in str(e.value)
