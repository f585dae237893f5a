"""The watcher's tracker gives exactly what core.rates.RateTracker gives, and says what changed."""

import random

import pytest

from vnet_tui.core.rates import HISTORY, RateTracker
from vnet_tui.live.fastrates import FastRateTracker
from vnet_tui.net.rtnl.stats import packed


@pytest.mark.parametrize("as_swept", [False, True], ids=["numbers", "the-kernels-bytes"])
def test_same_rates_changes_and_histories_as_the_core_tracker(as_swept):
    """The sweep hands over the kernel's bytes (``Counts``); numbers give the same rates."""
    rnd = random.Random(7)
    slow, fast, many = RateTracker(), FastRateTracker(), FastRateTracker()
    counters = {k: [0] * 8 for k in range(20)}
    computed: dict[int, list[tuple[int, float, float]]] = {k: [] for k in counters}  # (step, rx, tx) per key
    now = 100.0
    steps = 300
    for step in range(steps):
        now += rnd.choice([0.0, 0.5, 1.0, 1.02])  # equal times happen (dt 0: a new baseline)
        sweep = {}
        for k, c in counters.items():
            r = rnd.random()
            if r < 0.05:
                counters[k] = [0] * 8  # reset: counters go backwards
            elif r < 0.5:
                counters[k] = [x + rnd.randint(0, 5000) for x in c]
            elif r < 0.55:
                counters[k] = c[:4] + [x + 1 for x in c[4:]]  # only errors/drops move: the rate is zero
            values = tuple(counters[k])
            sweep[k] = packed(values) if as_swept else values
            rate = slow.update(k, values, now)
            assert rate == fast.update(k, values, now)
            if rate is not None:
                computed[k].append((step, rate.rx_bps, rate.tx_bps))
        before = dict(many.rates)
        changed = many.update_many(sweep, now)
        assert many.rates == slow.rates
        # what changed is exactly the keys whose rate differs from the sweep before (or came, or went)
        assert changed == {k for k in before.keys() | many.rates.keys() if before.get(k) != many.rates.get(k)}
        if step % 50 == 49:
            gone = rnd.choice(list(counters))
            for t in (slow, fast, many):
                t.forget(gone)
            computed[gone] = []
    assert slow.rates == fast.rates == many.rates
    for k in counters:
        assert fast.history_of(k) == slow.history_of(k)
        # the ring holds the last HISTORY sweeps: the rates computed in them, oldest first
        recent = [(rx, tx) for step, rx, tx in computed[k] if step >= steps - HISTORY]
        assert many.history_of(k) == ([rx for rx, _ in recent], [tx for _, tx in recent])
