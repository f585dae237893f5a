"""Snapshots of every screen at 80×24, 120×40 and 200×60, from the running app on a recorded topology.

Rates and histories are frozen (tests/ui/pilot.py); what else moves is
held still here: the forms' "auto" MACs and temporary names, the pair
view's clock, the keep prompt's countdown, the cursor's blink.  The
pictures change only when the UI does.  After an intended change:
``pytest tests/ui/test_snapshots.py --snapshot-update``, and look at them
(``pytest --snapshot-report`` writes an HTML report of the differences).
"""

from __future__ import annotations

import itertools
import secrets
from types import SimpleNamespace
from typing import Any

import pytest
from textual.widgets import Input

from vnet_tui.core.server import Server

from .pilot import loaded, recorded_app, wait_for

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40"),
         pytest.param((200, 60), id="200x60")]
ALL_CAPS = (1 << 64) - 1


@pytest.fixture(autouse=True)
def still(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Hold still what would move between runs."""
    counter = itertools.count(1)
    monkeypatch.setattr(secrets, "token_bytes", lambda n: bytes((next(counter) + i) % 256 for i in range(n)))
    monkeypatch.setattr(secrets, "token_hex", lambda n: "ab" * n)
    monkeypatch.setattr("os.getpid", lambda: 4242)
    monkeypatch.setenv("VNET_TUI_STATE", str(tmp_path))  # an empty journal: "nothing to undo"
    import vnet_tui.ui.pair.screen as pair_screen

    monkeypatch.setattr(pair_screen, "time", SimpleNamespace(monotonic=lambda: 1000.0))


def writable_app() -> Any:
    """The recorded app as root sees it: changes allowed (the forms preview; nothing is applied)."""
    return recorded_app(server=Server(lab="demo"), caps=ALL_CAPS)


async def settle(pilot: Any) -> None:
    await pilot.pause(0.1)
    for i in pilot.app.screen.query(Input):
        i.cursor_blink = False
    await pilot.pause()


def keys(*press: str, until: Any = None) -> Any:
    async def run(pilot: Any) -> None:
        await loaded(pilot)
        await pilot.press(*press)
        if until is not None:
            await wait_for(pilot, lambda: until(pilot.app), what=str(press))
        await settle(pilot)

    return run


def on_screen(name: str) -> Any:
    return lambda app: type(app.screen).__name__ == name and app.screen.is_current


@pytest.mark.parametrize("size", SIZES)
def test_main_view(snap_compare, size):
    assert snap_compare(recorded_app(), terminal_size=size, run_before=keys())


@pytest.mark.parametrize("size", SIZES)
def test_main_view_read_write_footer(snap_compare, size):
    """The change keys are in the footer only when changes are allowed (undo at 120 columns)."""
    assert snap_compare(writable_app(), terminal_size=size, run_before=keys())


def test_main_view_containers_pane_sorted_by_rx(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(120, 40), run_before=keys("down", "s"))


def test_main_view_filtered_to_nothing(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(80, 24), run_before=keys("slash", *"nosuch", "enter"))


@pytest.mark.parametrize("size", SIZES)
def test_detail_view(snap_compare, size):
    assert snap_compare(recorded_app(), terminal_size=size, run_before=keys("enter", until=on_screen("DetailScreen")))


@pytest.mark.parametrize("size", SIZES)
def test_pair_view(snap_compare, size):
    assert snap_compare(recorded_app(), terminal_size=size, run_before=keys("p", until=on_screen("PairScreen")))


@pytest.mark.parametrize("size", SIZES)
def test_help_screen(snap_compare, size):
    assert snap_compare(recorded_app(), terminal_size=size,
                        run_before=keys("question_mark", until=on_screen("HelpScreen")))


@pytest.mark.parametrize("size", SIZES)
def test_palette(snap_compare, size):
    assert snap_compare(recorded_app(), terminal_size=size,
                        run_before=keys("ctrl+p", *"go to ct", until=on_screen("CommandPalette")))


@pytest.mark.parametrize("size", SIZES)
def test_add_form(snap_compare, size):
    assert snap_compare(writable_app(), terminal_size=size,
                        run_before=keys("a", until=on_screen("AddAdapterScreen")))


@pytest.mark.parametrize("size", SIZES)
def test_edit_form(snap_compare, size):
    assert snap_compare(writable_app(), terminal_size=size,
                        run_before=keys("e", "tab", "tab", "tab", "end", *["backspace"] * 4, *"1400",
                                                 until=on_screen("EditAdapterScreen")))


@pytest.mark.parametrize("size", [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")])
def test_edit_form_policy(snap_compare, size):
    """The policy section, scrolled to, with an MTU typed too: refused in the form's words (no kernel read)."""
    async def run(pilot: Any) -> None:
        await keys("e", until=on_screen("EditAdapterScreen"))(pilot)
        screen = pilot.app.screen
        screen.query_one("#edit-mtu", Input).value = "1400"
        rate_in = screen.query_one("#edit-rate-in", Input)
        rate_in.value = "10mbit/64k"
        rate_in.focus()
        await settle(pilot)
        await wait_for(pilot, lambda: "policy-with-edit" in str(screen.query_one("#form-problem").render()),
                       what="the refusal")
        await settle(pilot)

    assert snap_compare(writable_app(), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_delete_prompt(snap_compare, size):
    assert snap_compare(writable_app(), terminal_size=size,
                        run_before=keys("d", until=on_screen("DeleteAdapterScreen")))


@pytest.mark.parametrize("size", SIZES)
def test_undo_prompt(snap_compare, size):
    def ready(app: Any) -> bool:
        if type(app.screen).__name__ != "UndoScreen":
            return False
        r = app.screen.query_one("#undo-text").render()
        return "reading the journal" not in str(getattr(r, "plain", r))

    assert snap_compare(writable_app(), terminal_size=size, run_before=keys("u", until=ready))


@pytest.mark.parametrize("size", SIZES)
def test_typed_confirmation_and_keep_prompts(snap_compare, size, monkeypatch):
    """The two prompts of a change to the SSH session's interfaces, one over the other."""
    from vnet_tui.ui.forms import KeepChangeScreen, TypedConfirmScreen
    import vnet_tui.ui.forms.confirm as confirm

    monkeypatch.setattr(confirm, "time", SimpleNamespace(time=lambda: 1000.0))
    info = {"id": "x", "deadline": 1042.0, "protected": ["eth0 (route to the SSH client)"],
            "confirm_command": "vnet-tui adapter confirm x"}

    async def run(pilot: Any) -> None:
        await loaded(pilot)
        pilot.app.push_screen(KeepChangeScreen(info))
        pilot.app.push_screen(TypedConfirmScreen("veth101.0", "veth101.0 carries your SSH session"))
        await wait_for(pilot, lambda: on_screen("TypedConfirmScreen")(pilot.app))
        await pilot.press(*"veth10")
        await settle(pilot)

    assert snap_compare(writable_app(), terminal_size=size, run_before=run)
