"""The current journal file is parsed from where the last read stopped, and whole again when it changed otherwise.

Every read must give what a parse of the whole file gives (entries, damage, line numbers): after
appends, a torn last line and the writer's repair of it, a line rewritten in place, a file cut
shorter, another file in its place.  No kernel: the journal is a file in a private state directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vnet_tui.core.server import Server
from vnet_tui.safety import journal, journalread


@pytest.fixture()
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VNET_TUI_STATE", str(tmp_path))
    return tmp_path


def change(title: str) -> dict:
    return journal.append("add", Server(lab=None), {"title": title, "target": {"kind": "veth", "owner": "ct101"}})


def whole(state: Path) -> tuple[list, list]:
    """What a parse of the whole current file gives."""
    return journalread._parse((state / "journal.jsonl").read_bytes(), "")


def test_appends_are_parsed_alone_and_read_as_the_whole_file(state: Path, parsed: list[bytes]) -> None:
    for i in range(5):
        change(f"c{i}")
    assert journalread.read() == whole(state)
    parsed.clear()
    change("c5")
    got = journalread.read()
    assert len(parsed) == 1  # the new line alone
    assert got == whole(state) and [e["title"] for e in got[0]][-1] == "c5"
    parsed.clear()
    got = journalread.read()  # the same file again: nothing parsed
    assert parsed == []
    assert got == whole(state)


def test_a_torn_last_line_and_its_repair(state: Path, parsed: list[bytes]) -> None:
    change("a")
    with open(state / "journal.jsonl", "ab") as f:
        f.write(b'{"id": "x", "op": "add", "tar')  # a crash mid-write
    got = journalread.read()
    assert got == whole(state) and got[1] == ["line 2: not JSON (Unterminated string starting at) (torn last line)"]
    change("b")  # the writer ends the torn line first: it is line 2, damaged, no longer the last
    got = journalread.read()
    assert got == whole(state)
    assert [e["title"] for e in got[0]] == ["a", "b"]
    assert got[1] == ["line 2: not JSON (Unterminated string starting at)"]


@pytest.mark.parametrize("how", ["rewritten", "cut", "replaced"])
def test_a_file_changed_other_than_by_appending_is_parsed_whole(state: Path, parsed: list[bytes], how: str) -> None:
    for i in range(4):
        change(f"c{i}")
    journalread.read()
    path = state / "journal.jsonl"
    data = path.read_bytes()
    if how == "rewritten":  # a line changed in place, same size, then one more appended
        data = data.replace(b'"title": "c1"', b'"title": "X1"')
        with open(path, "r+b") as f:
            f.write(data)
        change("c4")
    elif how == "cut":  # shorter: its last line gone
        path.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 1])
    else:  # another file in its place (it may get the same inode number), another line first
        path.unlink()
        path.write_bytes(b'{"id": "n", "op": "add", "title": "n0"}\nnot json\n' + data)
    parsed.clear()
    got = journalread.read()
    assert len(parsed) == {"rewritten": 5, "cut": 3, "replaced": 6}[how]  # every line: parsed whole
    assert got == whole(state)
    titles = [e["title"] for e in got[0]]
    if how == "rewritten":
        assert titles == ["c0", "X1", "c2", "c3", "c4"]
    elif how == "cut":
        assert titles == ["c0", "c1", "c2"]
    else:
        assert titles == ["n0", "c0", "c1", "c2", "c3"] and got[1] == ["line 2: not JSON (Expecting value)"]


def test_many_appends_give_what_the_whole_file_gives(state: Path) -> None:
    with open(state / "journal.jsonl", "ab") as f:  # damage among them: its line numbers must stay right
        f.write(b"hello\n")
    for i in range(30):
        change(f"c{i}")
        if i % 7 == 3:
            with open(state / "journal.jsonl", "ab") as f:
                f.write(b"[1]\n")
        assert journalread.read() == whole(state)
    assert len(journalread.read()[1]) == 1 + 4
    assert os.path.getsize(state / "journal.jsonl") < journal.rotate_bytes()
