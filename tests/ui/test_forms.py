"""Pilot tests of the change forms: inline validation, live preview, typed confirmation, keep prompt.

The first tests drive each form on the recorded lab topology (nothing is
applied: previews are pure); the last one applies real changes to a lab
from the forms, through the SSH guard, the keep prompt and undo.
"""

from __future__ import annotations

import asyncio

import json
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest
from textual.app import App
from textual.widgets import Button, Input, Static

from vnet_tui.core.model import Topology
from vnet_tui.core.server import Server
from vnet_tui.ui.forms import (
    KeepChangeScreen,
    TypedConfirmScreen,
    open_add_form,
    open_delete_form,
    open_edit_form,
    open_undo,
)

TOPO = Topology.from_json(
    json.loads((Path(__file__).parent.parent / "data" / "topology_small.json").read_text())
)
DEMO = Server(lab="demo")
SIZE = (120, 45)


class Harness(App):
    """An empty app that opens one form on mount."""

    def __init__(self, opener: Callable[[App], Awaitable[None]]) -> None:
        super().__init__()
        self.opener = opener

    async def on_mount(self) -> None:
        await self.opener(self)


def text_of(app: App, selector: str) -> str:
    w = app.screen.query_one(selector, Static)
    r = w.render()
    return r.plain if hasattr(r, "plain") else str(r)


async def mounted(pilot: Any, selector: str, kind: type, timeout: float = 10.0) -> Any:
    """The widget, once the screen on top has composed it: a screen pushed a moment ago
    is already ``app.screen`` but may not have its children yet."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = pilot.app.screen.query(selector)
        if found:
            return found.first(kind)
        assert asyncio.get_running_loop().time() < deadline, f"{selector} never appeared on {pilot.app.screen}"
        await pilot.pause(0.02)


async def press(pilot: Any, selector: str) -> None:
    """Press a button as a click would (wherever the form has scrolled it)."""
    (await mounted(pilot, selector, Button)).press()
    await pilot.pause()


async def typed(pilot: Any, selector: str, value: str) -> None:
    (await mounted(pilot, selector, Input)).value = value
    await pilot.pause()


async def test_add_form_validates_and_previews() -> None:
    app = Harness(lambda a: open_add_form(a, DEMO, TOPO, "ct101"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        preview = text_of(app, "#form-preview")
        assert "ip -n vl-demo-host link add veth101.1" in preview and "netns vl-demo-ct101" in preview
        assert "master br0" in preview and not app.screen.query_one("#form-apply-button", Button).disabled
        await typed(pilot, "#add-mac", "01:00:5e:00:00:01")
        assert "[mac-multicast]" in text_of(app, "#form-problem")
        assert app.screen.query_one("#form-apply-button", Button).disabled
        await typed(pilot, "#add-mac", "c4:37:72:12:34:56")
        await typed(pilot, "#add-ips", "198.18.1.77/16, fd00:5654::1:77/64")
        preview = text_of(app, "#form-preview")
        assert "address c4:37:72:12:34:56" in preview and "addr add fd00:5654::1:77/64 dev eth1" in preview
        await typed(pilot, "#add-ips", "198.18.0.0/16")
        assert "[ipv4-network-address]" in text_of(app, "#form-problem")
        await typed(pilot, "#add-ips", "")
        await typed(pilot, "#add-mtu", "12")
        assert "[mtu]" in text_of(app, "#form-problem")
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, type(None)) and app.screen.id != "form"
        assert len(app.screen_stack) == 1


async def test_edit_form_and_vm_guest_mac() -> None:
    app = Harness(lambda a: open_edit_form(a, DEMO, TOPO, "ct101", "veth101.0"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        # nothing typed yet: a hint, not an error
        assert "✗" not in text_of(app, "#form-problem") and "Nothing to change yet" in text_of(app, "#form-problem")
        assert app.screen.query_one("#form-apply-button", Button).disabled
        await typed(pilot, "#edit-mtu", "9000")
        assert "ip -n vl-demo-host link set dev veth101.0 mtu 9000" in text_of(app, "#form-preview")
        await typed(pilot, "#edit-mtu", "70000")
        assert "[mtu]" in text_of(app, "#form-problem")
    app = Harness(lambda a: open_edit_form(a, DEMO, TOPO, "vm201", "net0"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await typed(pilot, "#edit-guest-mac", "c4:37:72:99:88:77")
        assert "[vm-guest-mac-live]" in text_of(app, "#form-problem")
        assert "cannot change live" in text_of(app, "#form-problem")
        # in the form's words: the checkbox beside it, not the CLI flag
        assert "--replug" not in text_of(app, "#form-problem") and "“unplug + replug”" in text_of(app, "#form-problem")
        app.screen.query_one("#edit-replug").value = True
        await pilot.pause()
        assert "qmp vm201 device_del" in text_of(app, "#form-preview")
        await typed(pilot, "#edit-mtu", "9000")
        assert "[vm-one-end]" in text_of(app, "#form-problem")
        await typed(pilot, "#edit-guest-mac", "c4:37:72:00:01:c9")  # back to the current one
        app.screen.query_one("#edit-replug").value = False
        await pilot.pause()
        assert "link set dev vme0000c9a1.0 mtu 9000" in text_of(app, "#form-preview")


async def test_forms_take_the_keyboard_at_once() -> None:
    """Typed keys land in the first field; ctrl+s and esc are the footer's keys."""
    app = Harness(lambda a: open_edit_form(a, DEMO, TOPO, "ct101", "veth101.0"))
    async with app.run_test(size=(80, 24)) as pilot:
        mac = await mounted(pilot, "#edit-mac", Input)
        await pilot.pause()
        assert app.focused is mac
        await pilot.press("end", "backspace", "2")  # fe:56:54:00:65:01 -> ...:02
        assert mac.value == "fe:56:54:00:65:02"
        assert "address fe:56:54:00:65:02" in text_of(app, "#form-preview")
        footer = " ".join(k.description for k in app.screen.query("FooterKey"))
        assert "apply" in footer and "cancel" in footer
        apply = app.screen.query_one("#form-apply-button", Button)
        assert apply.region.bottom <= 23 and not apply.disabled  # visible at 80×24, above the footer


async def test_add_form_for_a_vm_offers_only_what_applies() -> None:
    app = Harness(lambda a: open_add_form(a, DEMO, TOPO, "vm201"))
    async with app.run_test(size=SIZE) as pilot:
        await mounted(pilot, "#add-ips", Input)
        await pilot.pause()
        assert not app.screen.query_one("#add-ips", Input).parent.display
        assert not app.screen.query_one("#add-ifname", Input).parent.display
        assert not app.screen.query_one("#add-routed").display
        assert "✓ valid" in text_of(app, "#form-problem")
        app.screen.query_one("#add-target").value = "ct101"  # a container: its fields come back
        await pilot.pause()
        assert app.screen.query_one("#add-ips", Input).parent.display


async def test_delete_prompt_answers_y_and_n() -> None:
    for key, deleted in (("n", False), ("escape", False)):
        results: list[Any] = []
        app = Harness(lambda a: a.push_screen(
            __import__("vnet_tui.ui.forms", fromlist=["x"]).DeleteAdapterScreen(DEMO, TOPO, "ct102", "eth0"),
            results.append))
        async with app.run_test(size=(80, 24)) as pilot:
            await mounted(pilot, "#form-preview", Static)
            await pilot.pause()
            assert isinstance(app.focused, Button) and app.focused.id == "form-apply-button"
            await pilot.press(key)
            await pilot.pause()
            assert results == [None] and len(app.screen_stack) == 1
    # y starts the delete (applied in a worker: here the demo lab does not exist, so it is refused)
    app = Harness(lambda a: open_delete_form(a, DEMO, TOPO, "ct102", "eth0"))
    async with app.run_test(size=(80, 24)) as pilot:
        await mounted(pilot, "#form-preview", Static)
        await pilot.pause()
        started: list[bool] = []
        app.screen.start = lambda confirm: started.append(confirm)  # type: ignore[method-assign]
        await pilot.press("y")
        await pilot.press("enter")
        assert started == [False, False]


async def test_delete_form_shows_what_it_runs() -> None:
    app = Harness(lambda a: open_delete_form(a, DEMO, TOPO, "ct102", "eth0"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "ip -n vl-demo-host link del dev veth102.0" in text_of(app, "#form-preview")
        await press(pilot, "#form-cancel-button")
        await pilot.pause()
        assert len(app.screen_stack) == 1


async def test_typed_confirmation_and_keep_prompt() -> None:
    results: list[Any] = []
    app = Harness(
        lambda a: a.push_screen(
            TypedConfirmScreen("veth101.0", "it carries your SSH session"), results.append
        )
    )
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.screen.query_one("#typed-ok", Button).disabled
        await typed(pilot, "#typed-input", "veth101")
        assert app.screen.query_one("#typed-ok", Button).disabled
        await typed(pilot, "#typed-input", "veth101.0")
        await press(pilot, "#typed-ok")
        await pilot.pause()
    assert results == [True]
    info = {
        "id": "x",
        "deadline": time.time() + 30,
        "protected": ["eth0 (route to the SSH client)"],
        "confirm_command": "vnet-tui adapter confirm x",
    }
    app = Harness(lambda a: a.push_screen(KeepChangeScreen(info), results.append))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "Reverting in" in text_of(app, "#keep-text") and "adapter confirm x" in text_of(
            app, "#keep-text"
        )
        await press(pilot, "#keep-later-button")
        await pilot.pause()
    assert results[-1] is None


# -- live: the forms change a real lab ---------------------------------------------------
async def wait_for(pilot: Any, cond: Callable[[], Any], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            problem = ""
            try:
                problem = text_of(pilot.app, "#form-problem")
            except Exception:
                pass
            raise AssertionError(f"timed out on {type(pilot.app.screen).__name__}: {problem}")
        await pilot.pause(0.05)


@pytest.mark.live
async def test_forms_change_a_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers import ip_json, unique
    from vnet_tui.lab import lab
    from vnet_tui.ops.planner import topology_of
    from vnet_tui.safety import journal

    monkeypatch.setenv("VNET_TUI_STATE", str(tmp_path))
    with lab(unique("f"), containers=1, vms=0, seed=3) as info:
        server = Server(lab=info.name)
        ct = f"vl-{info.name}-ct101"
        app = Harness(lambda a: open_add_form(a, server, topology_of(server), "ct101"))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await typed(pilot, "#add-mac", "c4:37:72:5a:5a:01")
            await typed(pilot, "#add-ips", "198.18.4.1/16 198.18.4.2/16")
            await press(pilot, "#form-apply-button")
            await wait_for(pilot, lambda: len(app.screen_stack) == 1)
        eth1 = ip_json("addr", "show", "dev", "eth1", netns=ct)[0]
        assert eth1["address"] == "c4:37:72:5a:5a:01"
        assert {x["local"] for x in eth1["addr_info"]} >= {"198.18.4.1", "198.18.4.2"}

        # the SSH session comes from ct101's eth0: editing it needs the name typed, then keep
        topo = topology_of(server)
        client = (
            next(i for i in topo.containers[0].interfaces if i.ifname == "eth0").addresses[0].split("/")[0]
        )
        monkeypatch.setenv("SSH_CONNECTION", f"{client} 50000 198.18.0.1 22")
        app = Harness(lambda a: open_edit_form(a, server, topo, "ct101", "eth0"))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await typed(pilot, "#edit-mtu", "1420")
            await press(pilot, "#form-apply-button")
            await wait_for(pilot, lambda: isinstance(app.screen, TypedConfirmScreen))
            await typed(pilot, "#typed-input", "eth0")
            await press(pilot, "#typed-ok")
            await wait_for(pilot, lambda: isinstance(app.screen, KeepChangeScreen))
            await press(pilot, "#keep-ok")
            await wait_for(pilot, lambda: len(app.screen_stack) == 1)
        changed = journal.last_change(server)
        assert changed is not None and journal.fate(changed["id"]) == "confirm"
        assert ip_json("link", "show", "dev", "eth0", netns=ct)[0]["mtu"] == 1420
        monkeypatch.delenv("SSH_CONNECTION")

        # u: undo the edit, then the add
        for by_key in (False, True):  # the Undo button, then the keyboard (ctrl+s)
            app = Harness(lambda a: open_undo(a, server))
            async with app.run_test(size=SIZE) as pilot:
                await wait_for(pilot, lambda: not app.screen.query_one("#undo-ok", Button).disabled)
                assert "$ ip -n" in text_of(app, "#undo-preview")
                if by_key:
                    await pilot.press("ctrl+s")
                else:
                    await press(pilot, "#undo-ok")
                await wait_for(pilot, lambda: len(app.screen_stack) == 1)
        assert ip_json("link", "show", "dev", "eth0", netns=ct)[0]["mtu"] == 1500
        assert "eth1" not in [l["ifname"] for l in ip_json("link", "show", netns=ct)]


async def test_edit_form_policy_is_its_own_change() -> None:
    """The policy section and the other fields: refused together, in the form's words; at 80×24 the
    policy fields are reached by scrolling while Apply stays on screen."""
    app = Harness(lambda a: open_edit_form(a, DEMO, TOPO, "ct101", "veth101.0"))
    async with app.run_test(size=(80, 24)) as pilot:
        await mounted(pilot, "#edit-rate-in", Input)
        await pilot.pause()
        await typed(pilot, "#edit-mtu", "1400")
        await typed(pilot, "#edit-rate-in", "10mbit")
        problem = text_of(app, "#form-problem")
        assert "[policy-with-edit]" in problem and "policy is a change of its own" in problem
        assert "--mtu" not in problem
        assert app.screen.query_one("#form-apply-button", Button).disabled
        rate_in = app.screen.query_one("#edit-rate-in", Input)
        rate_in.focus()
        await pilot.pause()
        apply = app.screen.query_one("#form-apply-button", Button)
        assert app.screen.query_one("#form-fields").region.contains_region(rate_in.region)
        assert apply.region.bottom <= 23 and apply.region.height == 1
        assert app.screen.get_widget_at(apply.region.x + 1, apply.region.y)[0] is apply  # on screen, not clipped
        # the request carries the policy fields as the CLI's flags would
        await typed(pilot, "#edit-mtu", "1500")
        app.screen.query_one("#edit-isolated").value = "on"
        app.screen.query_one("#edit-cable").value = "unplugged"
        await typed(pilot, "#edit-mac-filter", "on")
        await typed(pilot, "#edit-ip-filter", "198.18.1.2, fd00::2")
        req = app.screen.request()
        assert (req.mtu, req.rate_in, req.rate_out, req.mac_filter, req.isolated, req.cable) == \
            (None, "10mbit", None, "on", "on", "unplugged")
        assert req.ip_filter == "198.18.1.2, fd00::2"


@pytest.mark.live
async def test_edit_form_sets_a_policy_on_a_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rate in and MAC filter through the form: the preview shows the commands, Apply makes them, the kernel
    has them (tc on the host end, the port's nftables table)."""
    import subprocess

    from tests.helpers import unique
    from vnet_tui.lab import lab
    from vnet_tui.ops.planner import topology_of

    monkeypatch.setenv("VNET_TUI_STATE", str(tmp_path))
    with lab(unique("fp"), containers=1, vms=0, seed=5) as info:
        server = Server(lab=info.name)
        ns = server.host_netns
        assert ns is not None
        topo = topology_of(server)
        from vnet_tui.ops.facts import ServerFacts

        facts = ServerFacts(topo)
        adapter = facts.adapter(facts.target("ct101"), "eth0")
        host = adapter.host.ifname
        assert "tbf" not in subprocess.run(["tc", "-n", ns, "qdisc", "show", "dev", host],
                                           capture_output=True, text=True, check=True).stdout
        app = Harness(lambda a: open_edit_form(a, server, topo, "ct101", "eth0"))
        async with app.run_test(size=(80, 24)) as pilot:
            await mounted(pilot, "#edit-rate-in", Input)
            await pilot.pause()
            await typed(pilot, "#edit-rate-in", "10mbit/64k")
            await typed(pilot, "#edit-mac-filter", "on")
            preview = text_of(app, "#form-preview")
            assert host in preview and "tbf" in preview, preview
            assert "nft" in preview, preview
            assert not app.screen.query_one("#form-apply-button", Button).disabled
            await press(pilot, "#form-apply-button")
            await wait_for(pilot, lambda: len(app.screen_stack) == 1)
        qdiscs = json.loads(subprocess.run(["tc", "-n", ns, "-j", "qdisc", "show", "dev", host],
                                           capture_output=True, text=True, check=True).stdout)
        tbf = [q for q in qdiscs if q["kind"] == "tbf"]
        assert tbf and tbf[0]["handle"].startswith("5654:"), qdiscs
        assert tbf[0]["options"]["rate"] == 10_000_000 // 8, tbf[0]["options"]  # bytes per second
        tables = subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "tables"],
                                capture_output=True, text=True, check=True).stdout
        assert f"netdev vnet_tui_{host}" in tables, tables
        ruleset = subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "table", "netdev", f"vnet_tui_{host}"],
                                 capture_output=True, text=True, check=True).stdout
        assert adapter.guest.mac in ruleset, ruleset
