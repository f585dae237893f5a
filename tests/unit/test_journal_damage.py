"""The journal survives damage: every kind of bad line is skipped and reported, never a traceback.

No kernel here: the journal is a file in a private state directory; the
readers (entries, last_change, fate, incomplete, the unplug scan) and the
CLI's ``undo --list`` are run over it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vnet_tui.core.errors import ChangeFailed
from vnet_tui.core.server import Server
from vnet_tui.safety import journal

DAMAGE = {
    "torn": b'{"id": "x", "op": "add", "tar',  # a crash mid-write (no newline)
    "bytes": b'{"id": "\xff\xfe", "op": "add"}',
    "c1": b'{"id": "a\x9b", "op": "add"}',
    "not-json": b"hello",
    "array": b'[1, 2, 3]',
    "string": b'"just a string"',
    "number": b"42",
    "null": b"null",
    "no-id": b'{"op": "add", "target": {}}',
    "id-not-str": b'{"id": 7, "op": "add"}',
    "no-op": b'{"id": "y"}',
    "ref-not-str": b'{"id": "z", "op": "undo", "ref": []}',
    "bare-word": b'{"id": "n", "op": add}',
    "deep": b"[" * 100000 + b"]" * 100000,
    "nul": b"\x00\x00\x00",
}


@pytest.fixture()
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VNET_TUI_STATE", str(tmp_path))
    return tmp_path


def change(server: Server, title: str) -> dict:
    return journal.append(
        "add", server, {"title": title, "target": {"kind": "veth", "owner": "ct101", "guest": "eth1", "host": "v"}}
    )


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_each_kind_of_damage_is_skipped_and_reported(state: Path, kind: str) -> None:
    srv = Server(lab=None)
    first = change(srv, "first")
    with open(state / "journal.jsonl", "ab") as f:
        f.write(DAMAGE[kind] + (b"" if kind == "torn" else b"\n"))
    second = change(srv, "second")  # after a torn line: newline repair keeps this entry whole
    got = [e["id"] for e in journal.entries()]
    assert got == [first["id"], second["id"]], kind
    assert len(journal.damage()) == 1 and journal.damage_note(), kind
    assert journal.last_change(srv)["id"] == second["id"]  # undo reverts the newest, not an older one
    assert journal.fate(second["id"]) is None and journal.incomplete() == []
    from vnet_tui.safety import journalsummary

    assert journalsummary.pending_unplugs() == []


def test_cli_undo_list_reports_damage_without_traceback(state: Path) -> None:
    change(Server(), "kept")
    with open(state / "journal.jsonl", "ab") as f:
        for raw in DAMAGE.values():
            f.write(raw + b"\n")
    env = {**os.environ, "VNET_TUI_STATE": str(state)}
    for args in (["undo", "--list"], ["undo", "--list", "--json"], ["adapter", "confirm", "--list"]):
        r = subprocess.run([sys.executable, "-m", "vnet_tui", *args], capture_output=True, text=True, env=env)
        assert r.returncode == 0, (args, r.stderr)
        assert "Traceback" not in r.stderr + r.stdout
    out = json.loads(
        subprocess.run([sys.executable, "-m", "vnet_tui", "undo", "--list", "--json"], capture_output=True,
                       text=True, env=env).stdout
    )
    assert [r["title"] for r in out["journal"]] == ["kept"]
    assert len(out["damaged"]) == len(DAMAGE)


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_numbers_that_are_not_json_are_refused(state: Path, bad: float) -> None:
    with pytest.raises(ChangeFailed) as e:
        journal.append("add", Server(), {"confirm": {"timeout": bad}})
    assert e.value.rule == "journal"
    assert not (state / "journal.jsonl").exists() or b"Infinity" not in (state / "journal.jsonl").read_bytes()


def test_incomplete_and_outcome(state: Path) -> None:
    srv = Server()
    b = journal.append("begin", srv, {"change": "add", "target": {}}, entry_id="c1")
    assert [e["id"] for e in journal.incomplete()] == ["c1"] and journal.outcome("c1") == "incomplete"
    journal.append("aborted", srv, {"ref": b["id"]})
    assert journal.incomplete() == [] and journal.outcome("c1") == "aborted"
    journal.append("begin", srv, {"change": "add", "target": {}}, entry_id="c2")
    journal.append("add", srv, {"target": {"kind": "veth", "owner": "x"}}, entry_id="c2")
    assert journal.incomplete() == [] and journal.outcome("c2") == "done"
    assert journal.find("c2")["op"] == "add"  # the change line, not its begin line


def test_entries_of_another_server_or_lab_instance_are_not_offered(state: Path) -> None:
    srv = Server()
    mine = change(srv, "mine")
    other = dict(mine, id="other", title="other")
    other["server"] = dict(mine["server"], machine_id="0" * 32, hostname="elsewhere")
    lab_old = dict(mine, id="lab-old", title="lab")
    lab_old["server"] = dict(mine["server"], lab="zz9", lab_instance="gone")
    with open(state / "journal.jsonl", "ab") as f:
        for e in (other, lab_old):
            f.write(journal.encode(e))
    assert journal.last_change()["id"] == mine["id"]
    assert "another server" in journal.same_server(other)
    assert "earlier build of lab zz9" in journal.same_server(lab_old)
    assert journal.last_change(Server(lab="zz9")) is None


def test_rotation_keeps_undo_fate_incomplete_and_the_unplug_scan(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vnet_tui.safety import journalsummary

    monkeypatch.setenv(journal.ROTATE_ENV, "2048")
    srv = Server()
    pending_del = journal.append("del", srv, {"pending": True, "target": {"kind": "vme", "owner": "vm201", "tap": "t"},
                                              "before": {"nic": {"id": "net1"}, "tap": None}})
    assert [e["id"] for e in journalsummary.pending_unplugs()] == [pending_del["id"]]
    undone = change(srv, "undone")
    journal.append("undo", srv, {"ref": undone["id"], "title": "undo"})
    open_begin = journal.append("begin", srv, {"change": "add", "target": {}}, entry_id="open1")
    for i in range(20):
        change(srv, f"filler {i}")
    kept = change(srv, "newest")
    assert journal.archives(), "the journal rotated"
    ids = [e["id"] for e in journal.entries()]
    assert ids.index(pending_del["id"]) < ids.index(undone["id"]) < ids.index(kept["id"])
    assert journal.fate(undone["id"]) == "undo"
    assert [e["id"] for e in journal.incomplete()] == [open_begin["id"]]
    assert journal.last_change(srv)["id"] == kept["id"]
    assert [e["id"] for e in journalsummary.pending_unplugs()] == [pending_del["id"]]  # found in an archive
    journal.append("unplugged", srv, {"ref": pending_del["id"]})
    assert journalsummary.pending_unplugs() == []
