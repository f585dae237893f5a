"""pair-test against a real lab: frames cross a container's pair both ways, a booted VM answers
through its tap, a paused VM is reported honestly, and nothing leaves the pair under test.

One lab for the module: ct101, ct102 and two VMs — vm201 boots the lab guest (agent), vm202
stays paused (the boot hook gives it no arguments).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Iterator

import pytest

from tests.helpers import ip_json, unique
from vnet_tui.core.server import Server
from vnet_tui.lab import LabInfo, guest_boot, lab, wait_for_guests
from vnet_tui.pair import run_pair_test

pytestmark = [pytest.mark.live, pytest.mark.qemu, pytest.mark.timeout(180)]

FRAMES = 1000


@pytest.fixture(scope="module")
def pl() -> Iterator[LabInfo]:
    boot_one = guest_boot()

    def boot(vm, files):  # type: ignore[no-untyped-def]
        return boot_one(vm, files) if vm.name == "vm201" else []  # vm202: paused, no guest

    with lab(unique("p"), containers=2, vms=2, seed=5, boot=boot) as info:
        late = wait_for_guests({"vm201": info.vm("vm201").qga}, timeout=90)
        assert not late, f"{late}; console: {open(info.vm('vm201').console, errors='replace').read()[-2000:]}"
        yield info


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, Any]:
    r = subprocess.run([sys.executable, "-m", "vnet_tui", "pair-test", *args, "--json"], capture_output=True,
                       text=True, env={**os.environ, **(env or {})}, timeout=120)
    return r.returncode, json.loads(r.stdout) if r.stdout.strip() else r.stderr


def stats(netns: str, ifname: str) -> dict[str, int]:
    (link,) = ip_json("-s", "link", "show", "dev", ifname, netns=netns)
    s = link["stats64"]
    return {"rx_packets": s["rx"]["packets"], "tx_packets": s["tx"]["packets"]}


def check_crossed(r: dict[str, Any], sender: str, receiver: str) -> None:
    """Every frame arrived; the ends' counter deltas agree with each other and with the count."""
    assert r["status"] == "ok", r["message"]
    assert r["sent"] == r["received"] == FRAMES and r["lost"] == 0 and r["out_of_order"] == 0
    assert r["latency_ms"]["p50"] is not None and 0 <= r["latency_ms"]["p50"] <= r["latency_ms"]["p99"]
    tx, rx = r["ends"][sender], r["ends"][receiver]
    assert tx["tx_packets"] >= FRAMES and rx["rx_packets"] >= FRAMES
    assert tx["tx_packets"] == rx["rx_packets"] and tx["tx_bytes"] == rx["rx_bytes"]
    assert tx["tx_dropped"] == rx["rx_dropped"] == 0  # the receiving end's stack counted no drop either
    assert r["mirror"]["ok"] is True
    (d,) = [d for d in r["mirror"]["directions"] if d["from"] == sender]
    assert d["transmitted"] == d["received"] >= FRAMES and d["difference"] == 0


def test_guest_end_to_host_end_json(pl: LabInfo) -> None:
    ct = pl.container("ct101")
    g0, h0 = stats(ct.netns, ct.ifname), stats(pl.host_netns, ct.host_ifname)
    code, r = cli("ct101", "eth0", "--from", "guest", "--frames", str(FRAMES), "--lab", pl.name)
    assert code == 0, r
    # the contract's keys (CLI.md) and their types
    assert {"sent", "received", "lost", "out_of_order", "latency_ms", "ends"} <= set(r)
    assert set(r["latency_ms"]) >= {"p50", "p99"} and set(r["ends"]) == {"guest", "host"}
    assert set(r["ends"]["guest"]) == set(r["ends"]["host"]) == {
        "rx_bytes", "tx_bytes", "rx_packets", "tx_packets", "rx_errors", "tx_errors", "rx_dropped", "tx_dropped"}
    assert r["adapter"] == "ct101:eth0" and r["kind"] == "veth" and r["from"] == "guest"
    check_crossed(r, "guest", "host")
    # and `ip -s` saw it too
    g1, h1 = stats(ct.netns, ct.ifname), stats(pl.host_netns, ct.host_ifname)
    assert g1["tx_packets"] - g0["tx_packets"] >= FRAMES and h1["rx_packets"] - h0["rx_packets"] >= FRAMES


def test_host_end_to_guest_end_touches_nothing_else(pl: LabInfo) -> None:
    ct, other = pl.container("ct102"), pl.container("ct101")
    vm = pl.vm("vm201")
    watch = [(other.netns, other.ifname), (pl.host_netns, other.host_ifname), (pl.host_netns, "br0"),
             (pl.host_netns, vm.tap)]
    before = [stats(*w) for w in watch]
    trace: list[str] = []
    r = run_pair_test(Server(lab=pl.name), "ct102", ct.host_ifname, from_end="host", frames=FRAMES,
                      on_trace=lambda e: trace.append(e.kind))
    check_crossed(r, "host", "guest")
    assert r["from"] == "host" and r["sender"].startswith(ct.host_ifname)
    assert trace[0] == "start" and trace[-1] == "done"
    assert trace.count("sent") == trace.count("arrived") == FRAMES
    # frames only on the two ends of that pair: no other end, not the bridge, saw them
    after = [stats(*w) for w in watch]
    for w, b, a in zip(watch, before, after):
        moved = max(a["rx_packets"] - b["rx_packets"], a["tx_packets"] - b["tx_packets"])
        assert moved < 50, f"{w} moved by {moved} during a pair test on ct102"


def test_booted_vm_answers_through_its_pair(pl: LabInfo) -> None:
    code, r = cli("vm201", "net0", "--frames", "200", "--lab", pl.name)
    assert code == 0, r
    assert r["kind"] == "vme" and r["method"] == "arp-probes" and r["status"] == "ok", r["message"]
    assert r["sent"] == r["received"] == 200 and r["lost"] == 0
    guest, host = r["ends"]["guest"], r["ends"]["host"]
    assert guest is not None, "the guest agent's counters are missing"
    # the guest's own counters (from its agent) moved: it received every probe and answered each
    assert guest["rx_packets"] >= 200 and guest["tx_packets"] >= 200
    assert host["tx_packets"] >= 200 and host["rx_packets"] >= 200
    assert r["mirror"]["ok"] is True, r["mirror"]
    assert r["guest_nic"]["mac"] == pl.vm("vm201").guest_mac
    assert pl.vm("vm201").ipv4.split("/")[0] in r["receiver"]


def test_paused_vm_says_guest_not_running(pl: LabInfo) -> None:
    vm = pl.vm("vm202")
    t0 = stats(pl.host_netns, vm.tap)
    code, r = cli("vm202", vm.tap, "--lab", pl.name)
    assert code == 1
    assert r["status"] == "guest-not-running" and "paused" in r["message"]
    assert r["sent"] == r["received"] == 0 and r["ends"]["guest"] is None
    assert stats(pl.host_netns, vm.tap)["tx_packets"] == t0["tx_packets"]  # nothing was sent into it


def test_refuses_the_ssh_sessions_adapter_and_unknown_names(pl: LabInfo) -> None:
    ct = pl.container("ct101")
    client = ct.ipv4.split("/")[0]
    code, r = cli("ct101", "eth0", "--lab", pl.name, env={"SSH_CONNECTION": f"{client} 50000 198.18.0.1 22"})
    assert code == 3 and r["error"]["rule"] == "ssh-session", r
    code, r = cli("ct999", "eth0", "--lab", pl.name)
    assert code == 4 and r["error"]["rule"] == "target"
    code, r = cli("ct101", "eth9", "--lab", pl.name)
    assert code == 4
