"""The journal's summary answers as the whole journal does, without parsing the history each time.

``journalsummary`` answers recovery (interrupted changes), the finisher
(pending unplugs) and the damage note from per-file summaries: rotated
files' summaries kept beside them, the current file's read on from where
the last call stopped.  Here long random journals (changes, aborts,
pending VM deletes and their releases, damaged and torn lines, rotation
every few KB) are checked after every line against the same questions
asked of ``journal.entries()``.  No kernel: the journal is a file in a
private state directory.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from vnet_tui.core.server import Server
from vnet_tui.safety import journal, journalread, journalsummary

SRV = Server(lab=None)


@pytest.fixture()
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VNET_TUI_STATE", str(tmp_path))
    forget()
    yield tmp_path
    forget()


def forget() -> None:
    """What a new process knows: nothing in memory (the summaries beside rotated files stay)."""
    journalsummary._kept.clear()
    journalsummary._point = None
    journalread._archived.clear()
    journalread._current = journalread._Read(None, None, b"", 0, [], [], ([], []))


def expected() -> tuple[list, list, list]:
    """(interrupted changes, pending unplugs, damage) as the whole journal says them."""
    es, damage = journalread.read()
    done = {e.get("ref") for e in es if e.get("op") in ("unplugged", "undo", "revert")}
    unplugs = [e for e in es if e.get("op") in ("del", "undo", "revert") and e.get("pending")
               and isinstance(e.get("target"), dict) and e["target"].get("kind") == "vme"
               and e["id"] not in done and isinstance(e.get("before"), dict)]
    return journal.incomplete(es), unplugs, damage


def answers() -> tuple[list, list, list]:
    return journal.incomplete(), journalsummary.pending_unplugs(), journal.damage()


def raw(state: Path, data: bytes) -> None:
    with open(state / "journal.jsonl", "ab") as f:
        f.write(data)


def random_line(rng: random.Random, state: Path, opened: list[str], changes: list[str],
                unplugs: list[str]) -> None:
    r = rng.random()
    if r < 0.25 or not opened:
        e = journal.append("begin", SRV, {"change": "add", "target": {"kind": "veth"}})
        opened.append(e["id"])
    elif r < 0.45:  # a begin ended by its change line, maybe many lines (and files) later
        cid = opened.pop(rng.randrange(len(opened)))
        journal.append("add", SRV, {"title": "x" * rng.randrange(200)}, entry_id=cid)
        changes.append(cid)
    elif r < 0.52:
        journal.append("aborted", SRV, {"ref": opened.pop(rng.randrange(len(opened)))})
    elif r < 0.62:  # a VM adapter delete waiting for its guest (some without a before: never offered)
        body = {"pending": True, "target": {"kind": "vme", "owner": "vm201", "tap": "t"}}
        if rng.random() < 0.8:
            body["before"] = {"nic": {"id": "net1"}}
        unplugs.append(journal.append(rng.choice(["del", "undo", "revert"]), SRV, body)["id"])
    elif r < 0.72 and (unplugs or changes):  # a release: of an unplug, or an undo of a change
        ref = rng.choice(unplugs + changes)
        journal.append(rng.choice(["unplugged", "undo", "revert"]), SRV, {"ref": ref})
    elif r < 0.78:
        raw(state, rng.choice([b"not json\n", b"[1]\n", b'{"op": "add"}\n', b"\xff\xfe\n", b"\n"]))
    elif r < 0.82:  # a crash mid-write: the next append ends the line first
        raw(state, b'{"id": "torn", "op": "add", "ta')
    elif r < 0.85:  # a whole line being written, its newline not yet
        raw(state, json.dumps({"id": f"w{rng.random()}", "op": "begin"}).encode())
    else:
        journal.append("confirm", SRV, {"ref": rng.choice(changes) if changes else "none"})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_answers_equal_the_whole_journals_after_every_line(state: Path, monkeypatch: pytest.MonkeyPatch,
                                                           seed: int) -> None:
    monkeypatch.setenv(journal.ROTATE_ENV, "3000")
    rng = random.Random(seed)
    opened: list[str] = []
    changes: list[str] = []
    unplugs: list[str] = []
    seen = [0, 0, 0]
    for i in range(400):
        random_line(rng, state, opened, changes, unplugs)
        if i % 7 == 0:
            forget()  # a new process: rotated files' summaries from beside them
        got, want = answers(), expected()
        assert got == want, f"line {i}"
        seen = [s + bool(w) for s, w in zip(seen, want)]
    assert len(journal.archives()) == journal.KEEP, "rotated, and the oldest files removed"
    assert all(s > 50 for s in seen), seen  # each answer was non-empty often
    kept = {p.name for p in state.glob("journal-*.summary.json")}
    assert kept == {journalsummary.summary_path(a).name for a in journal.archives()}  # none of removed files


def test_the_history_is_not_parsed_again(state: Path, monkeypatch: pytest.MonkeyPatch,
                                         parsed: list[bytes]) -> None:
    monkeypatch.setenv(journal.ROTATE_ENV, "2048")
    for i in range(60):
        journal.append("begin", SRV, {"change": "add"}, entry_id=f"c{i}")
        journal.append("add", SRV, {"title": "y" * 100}, entry_id=f"c{i}")
    journal.append("begin", SRV, {"change": "add"}, entry_id="open")
    assert len(journal.archives()) >= 4
    assert [e["id"] for e in journal.incomplete()] == ["open"]
    forget()
    parsed.clear()
    assert [e["id"] for e in journal.incomplete()] == ["open"]  # a new process
    current = (state / "journal.jsonl").read_bytes().count(b"\n")
    assert len(parsed) == current  # the current file's lines; each rotated file's summary read from beside it
    parsed.clear()
    journal.append("aborted", SRV, {"ref": "open"})
    assert journal.incomplete() == [] and journal.damage() == []
    assert len(parsed) == 1  # the new line alone


def test_a_summary_that_does_not_fit_its_file_is_made_again(state: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(journal.ROTATE_ENV, "2048")
    journal.append("begin", SRV, {"change": "add"}, entry_id="open")
    for i in range(30):
        journal.append("add", SRV, {"title": "z" * 100}, entry_id=f"c{i}")
    first = journal.archives()[0]
    side = journalsummary.summary_path(first)
    assert [e["id"] for e in journal.incomplete()] == ["open"] and side.exists()
    for bad in (b"{not json", b'{"of": [1, 2, 3], "begins": [], "ends": [], "unplugs": [], "released": [], '
                b'"damage": []}', json.dumps({"of": None, "begins": "x"}).encode()):
        side.write_bytes(bad)
        forget()
        assert [e["id"] for e in journal.incomplete()] == ["open"], bad
    # the rotated file itself replaced (an operator's repair): its summary no longer fits it
    data = first.read_bytes().replace(b'"op": "begin"', b'"op": "aborted", "ref": "open", "x": 1', 1)
    first.write_bytes(data)
    assert journal.incomplete() == []
    assert json.loads(side.read_bytes())["begins"] == []


@pytest.mark.parametrize("how", ["cut", "replaced", "first line rewritten"])
def test_a_current_file_changed_other_than_by_appending_is_read_whole(state: Path, how: str) -> None:
    journal.append("begin", SRV, {"change": "add"}, entry_id="a")
    for i in range(3):
        journal.append("begin", SRV, {"change": "add"}, entry_id=f"b{i}")
    assert len(journal.incomplete()) == 4
    path = state / "journal.jsonl"
    data = path.read_bytes()
    if how == "cut":
        path.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 1])
    elif how == "replaced":
        path.unlink()
        path.write_bytes(b'{"id": "n", "op": "begin"}\n' + data)
    else:  # same size, in place: the first begin becomes an abort of another
        line = data[: data.find(b"\n")]
        new = json.dumps({"id": "q", "op": "aborted", "ref": "b0"}).encode()
        with open(path, "r+b") as f:
            f.write(new + b" " * (len(line) - len(new)))
    assert answers() == expected()
