"""At start, with write access, the TUI settles changes an earlier process left half-made and says so."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import unique
from vnet_tui.core.server import Server
from vnet_tui.safety import journal
from vnet_tui.txn import recover

from .pilot import loaded, recorded_app, wait_for

ALL_CAPS = (1 << 64) - 1


def half_made(server: Server) -> dict[str, Any]:
    """A ``begin`` with no completion: as a process killed mid-change leaves it (a recovery's own)."""
    return journal.append("begin", server, {"journal_op": "recover", "title": "[bold]recovery[/bold] of x",
                                            "change": "recover"})


def notes_of(app: Any) -> list[str]:
    return [n.message for n in app._notifications]


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VNET_TUI_STATE", str(tmp_path))
    return tmp_path


async def test_start_settles_and_notifies(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = Server(lab=unique("rc"))  # no such lab: nothing of the kernel is touched
    begin = half_made(server)
    assert [e["id"] for e in journal.incomplete()] == [begin["id"]]
    threads: list[str] = []
    real = recover.at_start

    def spy() -> list[str]:
        threads.append(threading.current_thread().name)
        return real()

    monkeypatch.setattr(recover, "at_start", spy)
    app = recorded_app(server=server, caps=ALL_CAPS)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await wait_for(pilot, lambda: any(begin["id"] in m for m in notes_of(app)), timeout=10, what="the note")
        note = next(m for m in notes_of(app) if begin["id"] in m)
        assert "a recovery that died" in note and "[bold]recovery[/bold]" in note  # its words, not markup
    assert journal.incomplete() == []  # settled: an aborted line closes it
    assert any(e.get("op") == "aborted" and e.get("ref") == begin["id"] for e in journal.entries())
    assert threads and threading.main_thread().name not in threads


async def test_read_only_start_leaves_the_journal_alone(state: Path) -> None:
    server = Server(lab=unique("rc"))
    begin = half_made(server)
    app = recorded_app(server=server, caps=0)  # no CAP_NET_ADMIN: read-only
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.pause(0.3)
        assert not app.read_write
        assert not any(begin["id"] in m for m in notes_of(app))
    assert [e["id"] for e in journal.incomplete()] == [begin["id"]]
