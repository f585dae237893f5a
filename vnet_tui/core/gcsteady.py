"""The cyclic GC of a long-running TUI once its picture is built: full collections rarely.

Once the first picture's objects are frozen (app.py, ui/main.py), what
the GC still walks in a full collection is what came after: at 5,000
containers 57-61 ms each, every 5-25 s, whenever Python's default
(one full collection per ten middle ones, if enough has piled up) says
so.  A key press that met one waited for it: that was the tail of key
latency.  ``enable_steady`` turns the GC on with full collections a
tenth as often; the young generations are collected as before, and
cyclic garbage that reaches the old one waits longer (bounded: minutes,
not forever).
"""

from __future__ import annotations

import gc

FULL_EVERY = 100  # middle-generation collections between full ones (Python's default: 10)


def enable_steady() -> None:
    """Turn the cyclic GC on, with full collections every ``FULL_EVERY`` middle ones."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_EVERY)
    gc.enable()
