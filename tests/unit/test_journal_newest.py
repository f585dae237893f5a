"""``journal.last_change`` reads the newest file first and parses older rotated files only when needed.

What it answers must be what the whole journal answers: the newest change
here not undone or reverted, passing over VM unplugs still pending.  Here
random journals (changes, undos, reverts, pending VM deletes and their
unplugged lines, rotation every 2 KB) are checked after every line
against that question asked of ``journal.entries()``; and a change in the
current file is found without parsing a rotated file.  No kernel: the
journal is a file in a private state directory.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from vnet_tui.core.server import Server
from vnet_tui.safety import journal, journalread

SRV = Server(lab=None)


@pytest.fixture()
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VNET_TUI_STATE", str(tmp_path))
    monkeypatch.setenv(journal.ROTATE_ENV, "2048")
    journalread._archived.clear()
    return tmp_path


def whole_answer() -> tuple[object, list[str]]:
    """last_change as it was: over every entry of every file."""
    es = journal.entries()
    skipped: list[str] = []
    for e in reversed(journal.changes_here(SRV, es)):
        if journal.fate(e["id"], es) in ("undo", "revert"):
            continue
        if journal.unplug_pending(e, es):
            skipped.append(e["id"])
            continue
        return e, skipped
    return None, skipped


def answer() -> tuple[object, list[str]]:
    skipped: list[str] = []
    return journal.last_change(SRV, skipped), skipped


def change(rng: random.Random) -> dict:
    """A change as a transaction writes it: its begin line, then (mostly) its change line."""
    cid = journal.new_id() + f"-{rng.randrange(10**9)}"
    journal.append("begin", SRV, {"change": "add", "target": {"kind": "veth"}}, entry_id=cid)
    if rng.random() < 0.1:
        return journal.append("aborted", SRV, {"ref": cid})
    if rng.random() < 0.2:  # a VM adapter delete waiting for its guest
        vme = {"kind": "vme", "owner": "vm201", "tap": "t"}
        return journal.append("del", SRV, {"pending": True, "target": vme, "before": {"nic": {"id": "net1"}}},
                              entry_id=cid)
    return journal.append("add", SRV, {"title": "x" * rng.randrange(300), "target": {"kind": "veth"}},
                          entry_id=cid)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_answer_is_the_whole_journals_after_every_line(state: Path, seed: int) -> None:
    rng = random.Random(seed)
    pending: list[str] = []
    made: list[str] = []
    undone = 0
    for i in range(300):
        r = rng.random()
        last, _ = whole_answer()
        if r < 0.45 or last is None:
            e = change(rng)
            made.append(e.get("ref") or e["id"])  # an aborted change: its abort line names it
            if e.get("pending"):
                pending.append(e["id"])
        elif r < 0.85:  # undo (or revert) the newest: the next answer lies further back, often rotated
            journal.append(rng.choice(["undo", "revert"]), SRV, {"ref": last["id"]})
            undone += 1
        elif r < 0.9 and pending:
            journal.append("unplugged", SRV, {"ref": pending.pop(rng.randrange(len(pending)))})
        elif r < 0.92 and made:  # confirm one
            journal.append("confirm", SRV, {"ref": rng.choice(made)})
        if i % 5 == 0:
            journalread._archived.clear()  # a new process
        assert answer() == whole_answer(), f"line {i}"
        es = journal.entries()
        for cid in rng.sample(made, min(5, len(made))) + ["nowhere"]:  # read newest first, as far as needed
            newest_first = journal.fate(cid), journal.find(cid)
            assert newest_first == (journal.fate(cid, es), journal.find(cid, es)), cid
    assert len(journal.archives()) == journal.KEEP and undone > 80


def test_a_change_in_the_current_file_is_found_without_parsing_the_history(state: Path,
                                                                          parsed: list[bytes]) -> None:
    for i in range(40):
        journal.append("add", SRV, {"title": "y" * 200, "target": {"kind": "veth"}}, entry_id=f"old{i}")
    newest = journal.append("add", SRV, {"title": "newest", "target": {"kind": "veth"}})
    assert len(journal.archives()) >= 3
    journalread._archived.clear()
    journalread._current = journalread._Read(None, None, b"", 0, [], [], ([], []))
    parsed.clear()
    assert journal.last_change(SRV)["id"] == newest["id"]
    assert len(parsed) == (state / "journal.jsonl").read_bytes().count(b"\n")  # the current file's only
    journal.append("undo", SRV, {"ref": newest["id"]})
    for e in reversed(journal.entries()):  # undo the rest of the current file: the answer is rotated
        if e["op"] == "add" and e["id"].startswith("old") and journal.fate(e["id"]) is None \
                and e in journalread.current()[0]:
            journal.append("undo", SRV, {"ref": e["id"]})
    assert answer() == whole_answer() and answer()[0]["id"].startswith("old")
