"""Demo traffic: stays inside the lab, makes the counters move, stops."""

from __future__ import annotations

import threading
import time

import pytest

from tests.helpers import ip_json
from vnet_tui.demo.traffic import Traffic, lab_address


def test_only_lab_addresses():
    assert lab_address("198.18.0.102/16") == "198.18.0.102"
    assert lab_address("fd00:5654::102/64") == "fd00:5654::102"
    for outside in ("8.8.8.8/32", "10.0.0.1/8", "fe80::1/64", "127.0.0.1/8"):
        with pytest.raises(ValueError):
            lab_address(outside)


def tx_packets(netns: str, ifname: str) -> int:
    return ip_json("-s", "link", "show", ifname, netns=netns)[0]["stats64"]["tx"]["packets"]


@pytest.mark.live
def test_traffic_moves_every_container_and_stops(lab_info):
    before = {c.name: tx_packets(c.netns, c.ifname) for c in lab_info.containers}
    threads = threading.active_count()
    t = Traffic(lab_info, period=0.1).start()
    try:
        time.sleep(1.0)
    finally:
        t.stop()
    assert t.sent > 0
    after = {c.name: tx_packets(c.netns, c.ifname) for c in lab_info.containers}
    assert all(after[n] > before[n] for n in before), (before, after)
    assert threading.active_count() == threads  # its thread is gone
