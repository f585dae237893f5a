"""The change generation and the server lock's holder record, written in place (no rename, no truncate)."""

from __future__ import annotations

import json
import os

import pytest

from vnet_tui.safety import lock
from vnet_tui.safety.generation import WIDTH, bump_generation, generation


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("VNET_TUI_STATE", str(tmp_path))
    return tmp_path


def test_the_generation_counts_in_place_from_any_earlier_file(state):
    assert generation() == 0
    bump_generation()
    assert generation() == 1
    (state / "generation").write_text("99")  # as the renamed temporary file left it
    ino = os.stat(state / "generation").st_ino
    for want in (100, 101, 102):
        bump_generation()
        assert generation() == want
    st = os.stat(state / "generation")
    assert st.st_ino == ino and st.st_size == WIDTH  # the same file, one size
    assert (state / "generation").read_text() == f"{102:<{WIDTH - 1}}\n"
    (state / "generation").write_text("garbage")
    bump_generation()
    assert generation() == 1  # an unreadable count starts again (it only tells plans they are stale)


def test_the_lock_names_its_holder_over_a_longer_earlier_record(state):
    with lock.server_lock("a change whose description is rather long " * 8):
        first = lock.holder()
    size = os.stat(state / "server.lock").st_size
    assert size > lock.RECORD and "rather long" in first
    with lock.server_lock("short"):
        text = (state / "server.lock").read_text()
        assert json.loads(text)["what"] == "short" and len(text) == size  # padded, not cut
        assert lock.holder().startswith(f"{json.loads(text)['user']} (pid {os.getpid()}, short, since ")
