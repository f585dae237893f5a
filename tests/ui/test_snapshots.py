"""Snapshots of the main view, the detail view and the help screen, fed by a recorded topology.

Rates and histories are frozen (tests/ui/pilot.py), the size is fixed at
120×40: the pictures change only when the UI does.  After an intended
change: pytest tests/ui/test_snapshots.py --snapshot-update, and look.
"""

from __future__ import annotations

from .pilot import SIZE, loaded, recorded_app


async def _ready(pilot) -> None:
    await loaded(pilot)


def test_main_view(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=SIZE, run_before=_ready)


def test_main_view_containers_pane_sorted_by_rx(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=SIZE, press=["down", "s"], run_before=_ready)


def test_detail_view(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=SIZE, press=["enter"], run_before=_ready)


def test_help_screen(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=SIZE, press=["question_mark"], run_before=_ready)
