from vnet_tui.core.rates import RateTracker


def sample(rxb, txb, rxp=0, txp=0):
    # kernel order: rx_packets, tx_packets, rx_bytes, tx_bytes, ...
    return (rxp, txp, rxb, txb, 0, 0, 0, 0)


def test_first_sample_is_a_baseline():
    t = RateTracker()
    assert t.update("a", sample(100, 0), 1.0) is None
    assert "a" not in t.rates


def test_rate_uses_measured_time():
    t = RateTracker()
    t.update("a", sample(0, 0, 0, 0), 10.0)
    r = t.update("a", sample(3000, 1500, 30, 15), 11.5)
    assert r is not None
    assert r.rx_bps == 2000 and r.tx_bps == 1000
    assert r.rx_pps == 20 and r.tx_pps == 10


def test_counter_going_backwards_starts_new_baseline():
    t = RateTracker()
    t.update("a", sample(5000, 5000), 1.0)
    t.update("a", sample(6000, 6000), 2.0)
    assert t.rates["a"].rx_bps == 1000
    assert t.update("a", sample(10, 10), 3.0) is None
    assert "a" not in t.rates
    r = t.update("a", sample(110, 10), 4.0)
    assert r is not None and r.rx_bps == 100 and r.tx_bps == 0


def test_history_is_bounded_and_forget_drops():
    t = RateTracker(history=3)
    for i in range(10):
        t.update("a", sample(i * 100, 0), float(i))
    assert list(t.history["a"][0]) == [100.0, 100.0, 100.0]
    t.keep_only(set())
    assert "a" not in t.history and "a" not in t.rates
