"""The idle fast path gives exactly what core.rates.RateTracker gives."""

import random

from vnet_tui.core.rates import RateTracker
from vnet_tui.live.fastrates import FastRateTracker


def test_same_rates_and_histories_as_the_core_tracker():
    rnd = random.Random(7)
    slow, fast, many = RateTracker(), FastRateTracker(), FastRateTracker()
    counters = {k: [0] * 8 for k in range(20)}
    now = 100.0
    for step in range(300):
        now += rnd.choice([0.0, 0.5, 1.0, 1.02])  # equal times happen (dt 0: a new baseline)
        sweep = {}
        for k, c in counters.items():
            r = rnd.random()
            if r < 0.05:
                counters[k] = [0] * 8  # reset: counters go backwards
            elif r < 0.5:
                counters[k] = [x + rnd.randint(0, 5000) for x in c]
            values = tuple(counters[k])
            sweep[k] = values
            assert slow.update(k, values, now) == fast.update(k, values, now)
        many.update_many(sweep, now)
        assert many.rates == slow.rates
        if step % 50 == 49:
            gone = rnd.choice(list(counters))
            slow.forget(gone)
            fast.forget(gone)
            many.forget(gone)
    assert slow.rates == fast.rates == many.rates
    for t in (fast, many):
        assert {k: (list(a), list(b)) for k, (a, b) in slow.history.items()} == \
               {k: (list(a), list(b)) for k, (a, b) in t.history.items()}
