"""The pair view's mirror check (vnet_tui/pair/mirror.py): ✗ only for real loss, ≈ when explained."""

from __future__ import annotations

from vnet_tui.core.model import Counters
from vnet_tui.pair.mirror import GRACE, MirrorWatch, mirror_json


def ends(g_tx: int, g_rx: int, h_tx: int, h_rx: int, h_tx_drop: int = 0) -> tuple[Counters, Counters]:
    return (Counters(tx_packets=g_tx, rx_packets=g_rx),
            Counters(tx_packets=h_tx, rx_packets=h_rx, tx_dropped=h_tx_drop))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_idle_vm_frame_in_flight_is_not_a_loss_and_closes():
    """The issue's case: "2 sent, 1 received, 1 missing ✗" on an idle VM while the counters agree."""
    clock = Clock()
    w = MirrorWatch(vm=True, clock=clock)
    d = w.update(*ends(2, 0, 0, 1))  # the guest sent 2, the tap has seen 1 so far
    assert d[0].verdict == "in-flight" and d[0].ok and "≈ in step" in d[0].text() and "✗" not in d[0].text()
    clock.now += 1
    d = w.update(*ends(2, 0, 0, 2))  # the second arrives
    assert d[0].verdict == "equal" and d[0].text() == "guest → host: 2 sent = 2 received ✓"


def test_a_lasting_difference_is_loss_after_the_grace_unless_the_test_saw_every_frame():
    clock = Clock()
    w = MirrorWatch(vm=False, clock=clock)
    assert w.update(*ends(10, 0, 0, 9))[0].verdict == "in-flight"
    clock.now += GRACE + 0.1
    d = w.update(*ends(10, 0, 0, 9))[0]
    assert d.verdict == "loss" and not d.ok and "1 missing ✗" in d.text()
    w.test_ok = True  # a traffic test through the pair: every frame arrived
    d = w.update(*ends(10, 0, 0, 9))[0]
    assert d.ok and "≈ in step" in d.text() and "✗" not in d.text()


def test_filtered_multicast_towards_a_vm_guest_is_in_step_and_drops_are_loss():
    w = MirrorWatch(vm=True, clock=Clock())
    d = w.update(*ends(0, 10, 12, 0))[1]  # the tap sent 12, the guest counted 10
    assert d.sender == "host" and d.verdict == "filtered" and d.ok and "multicast" in d.text()
    w = MirrorWatch(vm=False, clock=Clock())
    d = w.update(*ends(0, 7, 10, 0, h_tx_drop=3))[1]  # a veth that counted drops: real loss at once
    assert d.verdict == "loss" and "3 dropped" in d.text()


def test_the_one_shot_check_after_a_test_agrees_with_the_test():
    g, h = ends(100, 103, 104, 100)  # VM: a flooded multicast the guest filtered, one frame between reads
    j = mirror_json(g, h, skew_s=0.004)
    assert j["ok"] is True and [d["verdict"] for d in j["directions"]] == ["equal", "filtered"]
    j = mirror_json(*ends(500, 0, 0, 490))  # a container pair that lost 10
    assert j["ok"] is False and j["directions"][0]["verdict"] == "loss"
