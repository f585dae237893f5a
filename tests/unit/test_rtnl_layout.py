"""Attributes found by a message's layout give what a walk gives (net/rtnl/layout.py).

Messages are built here as the kernel lays them out — headers, payloads padded to 4 bytes, nested
flags — many of one size with different layouts among them, read in a random order so that kept
layouts are tried against messages they do not fit.  The live codec test
(tests/live/test_rtnl_codec.py) reads real dumps against pyroute2.
"""

from __future__ import annotations

import random

import pytest

from vnet_tui.net.rtnl import layout
from vnet_tui.net.rtnl.attr import RTA, TYPE_MASK, attr, attrs

WANT = frozenset((1, 3, 7, 18, 26))


def walked(buf: bytes, types: frozenset[int]) -> list[tuple[int, int, int]]:
    return [(t, a, b) for t, a, b in attrs(buf, 0, len(buf)) if t in types]


def message(rnd: random.Random, n: int = 40) -> bytes:
    parts = []
    for _ in range(n):
        t = rnd.randrange(1, 40) | (0x8000 if rnd.random() < 0.1 else 0)
        parts.append(attr(t, bytes(rnd.choice([0, 1, 2, 4, 4, 8, 12, 16, 64, 200]))))
    return b"".join(parts)


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout, "_LAYOUTS", {})


def test_every_message_gives_what_a_walk_gives() -> None:
    rnd = random.Random(14)
    shapes = [message(rnd) for _ in range(12)]
    # the same sizes, other layouts: two attributes swapped, a payload moved from one to its neighbour
    for s in list(shapes):
        heads = list(attrs(s, 0, len(s)))
        (t1, a1, b1), (t2, a2, b2) = heads[3], heads[4]
        end2 = a2 - 4 + ((b2 - a2 + 4 + 3) & ~3)
        swapped = s[:a1 - 4] + attr(t2, s[a2:b2]) + attr(t1, s[a1:b1]) + s[end2:]
        assert len(swapped) == len(s)
        shapes.append(swapped)
    msgs = [m for m in shapes for _ in range(5)]
    rnd.shuffle(msgs)
    for m in msgs:
        for types in (WANT, frozenset((3,)), frozenset(range(40))):
            assert layout.wanted(m, 0, len(m), types) == walked(m, types)


def test_a_kept_layout_reads_a_message_of_that_layout_without_a_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(5)
    first = message(rnd)
    assert len(first) >= layout.MIN_SIZE
    other_values = bytearray(first)  # the same layout, other payload bytes
    for t, a, b in attrs(first, 0, len(first)):
        other_values[a:b] = bytes(rnd.randrange(256) for _ in range(b - a))
    assert layout.wanted(first, 0, len(first), WANT) == walked(first, WANT)
    walks = []
    real = layout._walk
    monkeypatch.setattr(layout, "_walk", lambda *a: walks.append(1) or real(*a))
    got = layout.wanted(bytes(other_values), 0, len(first), WANT)
    assert walks == [] and got == walked(bytes(other_values), WANT)
    # a header that differs anywhere, even past the last wanted attribute: walked
    heads = list(attrs(first, 0, len(first)))
    t, a, b = heads[-1]
    changed = bytearray(first)
    RTA.pack_into(changed, a - 4, b - a + 4, (t + 1) & TYPE_MASK)
    assert layout.wanted(bytes(changed), 0, len(changed), WANT) == walked(bytes(changed), WANT)
    assert walks == [1]


def test_offsets_inside_a_bigger_buffer_and_damaged_runs() -> None:
    rnd = random.Random(9)
    m = message(rnd)
    buf = b"\xff" * 20 + m + b"\xee" * 8
    for _ in range(3):
        got = layout.wanted(buf, 20, 20 + len(m), WANT)
        assert got == [(t, a + 20, b + 20) for t, a, b in walked(m, WANT)]
    # a header shorter than itself where one of m's sits: the walk stops there, and no layout is kept for it
    at = list(attrs(m, 0, len(m)))[10][1] - 4
    damaged = m[:at] + RTA.pack(2, 3) + m[at + 4:]
    for _ in range(3):
        assert layout.wanted(damaged, 0, len(damaged), WANT) == walked(damaged, WANT)
    assert len(layout._LAYOUTS[(len(m), WANT)]) == 1  # m's alone


def test_small_runs_are_walked_and_the_kept_layouts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    small = attr(3, b"eth0\0") + attr(7, bytes(4))
    assert layout.wanted(small, 0, len(small), WANT) == walked(small, WANT)
    assert not layout._LAYOUTS
    monkeypatch.setattr(layout, "SIZES", 3)
    rnd = random.Random(3)
    for n in range(20, 30):
        m = message(rnd, n)
        assert layout.wanted(m, 0, len(m), WANT) == walked(m, WANT)
    assert len(layout._LAYOUTS) <= 3
