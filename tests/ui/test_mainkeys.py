"""The selection's keys (enter p a e d) are the main screen's, not the app's, and act as before.

keys.py says where each key is bound: the app keeps those that act on
any screen; the main screen binds those that act on its selected
adapter, and the screens above it (the detail screen, the pair view)
take them too, on the same selection.  The help screen and the palette
still list every key.  A recorded topology; the forms preview only.
"""

from __future__ import annotations

from typing import Any

import pytest

from vnet_tui.core.server import Server
from vnet_tui.ui.app import VnetApp
from vnet_tui.ui.detail import DetailScreen
from vnet_tui.ui.forms import AddAdapterScreen, DeleteAdapterScreen, EditAdapterScreen
from vnet_tui.ui.keys import KEYS
from vnet_tui.ui.main import MainScreen
from vnet_tui.ui.pair import PairScreen
from vnet_tui.ui.palette import VnetCommands

from .pilot import SIZE, loaded, recorded_app, screen_text, wait_for

SELECTION = {"detail", "pair-view", "add-adapter", "edit-adapter", "delete-adapter"}
ANYWHERE = {"help", "filter", "sort", "pause", "interval-up", "interval-down", "resync", "quit", "undo"}


@pytest.fixture(autouse=True)
def empty_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("VNET_TUI_STATE", str(tmp_path))  # an empty journal of its own


def writable_app() -> VnetApp:
    """The recorded app as root sees it: changes allowed (the forms preview; nothing is applied)."""
    return recorded_app(server=Server(lab="demo"), caps=(1 << 64) - 1)


def ids(bindings: list[Any]) -> set[str]:
    return {b.id for b in bindings}


def test_the_selection_keys_are_the_main_screens_and_the_rest_the_apps():
    assert {k.id for k in KEYS if k.on == "main"} == SELECTION
    assert not ids(VnetApp.BINDINGS) & SELECTION
    assert SELECTION <= ids(MainScreen.BINDINGS)
    assert ANYWHERE <= ids(VnetApp.BINDINGS) and not ids(MainScreen.BINDINGS) & ANYWHERE
    # every key of keys.py is bound once, on the app or on the main screen
    assert ids(VnetApp.BINDINGS) | ids(MainScreen.BINDINGS) >= {k.id for k in KEYS}
    for name in ("detail", "pair", "add", "edit", "delete"):
        assert not hasattr(VnetApp, f"action_{name}") and hasattr(MainScreen, f"action_{name}"), name


async def _on_ct101(app: VnetApp, pilot: Any) -> str:
    await loaded(pilot)
    app.go_to("containers", next(k for k, r in app.main.pane("containers").rows_by_key.items()
                                 if r.name == "ct101/eth0"))
    await pilot.pause()
    sel = app.selected_row()
    assert sel is not None and sel.guest is not None and sel.guest.owner == "ct101"
    return sel.key


async def test_on_the_detail_screen_e_edits_and_d_deletes_that_row_and_p_opens_its_pair_view():
    app = writable_app()
    async with app.run_test(size=SIZE) as pilot:
        key = await _on_ct101(app, pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), what="the detail screen")
        detail = app.screen
        assert detail.row_of().key == key
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EditAdapterScreen), what="the edit form")
        assert (app.screen.target, app.screen.ifname) == ("ct101", "eth0")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is detail, what="back on the detail screen")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DeleteAdapterScreen), what="the delete form")
        assert (app.screen.target, app.screen.ifname) == ("ct101", "eth0")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is detail, what="back on the detail screen")
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PairScreen), what="the pair view")
        assert (app.screen.target, app.screen.ifname) == ("ct101", "eth0")
        # on the pair view too: enter opens the detail, a the add form (on the selected container)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen is not detail,
                       what="the detail over the pair view")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, PairScreen), what="back on the pair view")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AddAdapterScreen), what="the add form")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, PairScreen), what="back on the pair view")
        # enter on the detail screen still goes back (its own binding comes first)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is detail, what="back on the detail screen")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is app.main, what="back on the panes")


async def test_the_footer_of_the_detail_screen_and_the_pair_view_shows_no_selection_key():
    app = writable_app()
    async with app.run_test(size=SIZE) as pilot:
        await _on_ct101(app, pilot)
        main_footer = [k.description for k in app.main.query("FooterKey")]
        assert {"pair", "add", "edit", "delete"} <= set(main_footer), main_footer
        for key, screen in (("enter", DetailScreen), ("p", PairScreen)):
            await pilot.press(key)
            await wait_for(pilot, lambda: isinstance(app.screen, screen), what=screen.__name__)
            await pilot.pause(0.1)
            footer = [k.description for k in app.screen.query("FooterKey")]
            assert not {"detail", "pair", "add", "edit", "delete"} & set(footer), footer
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is app.main, what="back on the panes")


async def test_the_palette_lists_the_selection_keys_and_runs_them_on_the_main_screens_selection():
    app = writable_app()
    async with app.run_test(size=SIZE) as pilot:
        await _on_ct101(app, pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), what="the detail screen")
        actions = {name: cb for name, _help, cb in VnetCommands(app.screen)._actions()}
        assert "Open the detail of ct101/eth0" in actions and "Open the pair view of ct101/eth0" in actions
        for k in KEYS:
            if k.on == "main" and k.id not in ("detail", "pair-view"):
                assert k.tooltip.split(":")[0].split(" (")[0] in actions, k.id
        # from the detail screen, the palette's edit opens the form on the main screen's selection
        await actions["Edit the selected adapter"]()
        await wait_for(pilot, lambda: isinstance(app.screen, EditAdapterScreen), what="the edit form")
        assert (app.screen.target, app.screen.ifname) == ("ct101", "eth0")
        await pilot.press("escape")
        # the palette itself, opened and searched, offers them too
        await pilot.press("ctrl+p", *"edit the sel")
        await wait_for(pilot, lambda: "Edit the selected adapter" in screen_text(app),
                       what="the palette's hit")
