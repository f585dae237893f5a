"""What a change and an undo ask of a full journal history, in a new process (a CLI command).

A server's journal rotates at 4 MB and keeps 8 older files: ~38 MB of
lines after a few thousand changes.  Every change asks it which changes
an earlier process left half-made (recovery), which VM unplugs still
wait (the finisher) and whether lines are damaged; an undo asks for the
newest change not yet undone.

Ours: those four questions (``journal.incomplete``, ``journalsummary.pending_unplugs``,
``journal.damage_note``, ``journal.last_change``) in a new Python process,
on a private state directory holding a full history built here: 8
rotated files of 4 MB and a current one of 2 MB, lines shaped like a
change's (a ``begin`` and its ``add``, ~1.6 KB each with the ends'
before/after).  The rotated files' summaries are made once, untimed,
as the first command after each rotation makes them.  Timed inside the
process (its start and imports excluded); its peak RSS beside it.

Baselines, same run: the same questions asked of the whole parsed
journal (``journal.entries()`` once, then each question over it: how
every change asked them before 2026-12-02), and ours on an empty journal.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Callable

from vnet_tui.core.server import Server
from vnet_tui.safety.origin import server_json

from .common import Baseline, Figure, median

KEEP, ROTATED_MB, CURRENT_MB = 8, 4, 2
TARGET_MS = 150.0  # a fresh process parses at most the current file (≤ 4 MB), never the history

_PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
from vnet_tui.core.server import Server
from vnet_tui.safety import journal, journalsummary
srv = Server(lab=None)
t1 = time.perf_counter()
if sys.argv[1] == "whole":  # as before: the history parsed, each question asked of it
    es, damage = journal.read()
    undoable = (e for e in reversed(journal.changes_here(srv, es))
                if journal.fate(e["id"], es) not in ("undo", "revert") and not journal.unplug_pending(e, es))
    last = next(undoable, None)
    answers = (len(journal.incomplete(es)), sum(1 for e in es if e.get("op") == "del" and e.get("pending")),
               len(damage), last["id"] if last else None)
else:
    last = journal.last_change(srv)
    answers = (len(journal.incomplete()), len(journalsummary.pending_unplugs()), journal.damage_note(),
               last["id"] if last else None)
t2 = time.perf_counter()
# VmHWM: this process's peak since exec (ru_maxrss keeps the forking parent's through exec)
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"ms": (t2 - t1) * 1000, "rss_mb": hwm / 1024, "answers": answers}))
"""


def _line(i: int, op: str, pad: str, server: dict) -> str:
    e = {"id": f"20261201T{i:06d}-{i:06x}", "time": "2026-12-01T00:00:00+0000", "user": "root", "pid": 1,
         "ssh_connection": None, "server": server, "op": op, "title": f"add eth1 to ct{100 + i % 900}",
         "target": {"kind": "veth", "owner": f"ct{100 + i % 900}", "host": f"veth{i}.1", "guest": "eth1"},
         "after": {"guest": {"mac": "c4:37:72:00:00:01", "addresses": ["10.0.0.1/16"], "pad": pad}}}
    if op == "begin":
        e["change"] = "add"
    return json.dumps(e) + "\n"


def build(state: str, scale: float = 1.0) -> int:
    """A full history in ``state`` (``scale`` < 1: smaller files, for a quick run); its size in bytes."""
    pad, i, total = "x" * 1300, 0, 0
    here = server_json(Server(lab=None))  # made on this machine: undo's answer is the newest change
    files = [f"journal-{k:06d}.jsonl" for k in range(1, KEEP + 1)] + ["journal.jsonl"]
    for name in files:
        want = int(((CURRENT_MB if name == "journal.jsonl" else ROTATED_MB) << 20) * scale)
        with open(os.path.join(state, name), "w") as f:
            n = 0
            while n < want:
                chunk = _line(i, "begin", pad, here) + _line(i, "add", pad, here)
                f.write(chunk)
                n += len(chunk)
                i += 1
        total += n
    return total


def _run(state: str, how: str) -> dict:
    env = dict(os.environ, VNET_TUI_STATE=state)
    out = subprocess.run([sys.executable, "-c", _PROBE, how], env=env, capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return json.loads(out.stdout)


def figure(repeat: int, log: Callable[[str], None], scale: float = 1.0) -> Figure:
    full, empty = tempfile.mkdtemp(prefix="vt-journal-"), tempfile.mkdtemp(prefix="vt-journal-")
    try:
        size = build(full, scale)
        log(f"  a history of {size / 2**20:.0f} MB ({KEEP} rotated files and the current one)")
        first = _run(full, "ours")  # makes the rotated files' summaries, as the first command after rotation
        n = max(5, 2 * repeat)
        ours = [_run(full, "ours") for _ in range(n)]
        whole = [_run(full, "whole") for _ in range(max(3, repeat))]
        bare = [_run(empty, "ours") for _ in range(n)]
    finally:
        shutil.rmtree(full, ignore_errors=True)
        shutil.rmtree(empty, ignore_errors=True)
    ms = [r["ms"] for r in ours]
    rss, whole_rss = median([r["rss_mb"] for r in ours]), median([r["rss_mb"] for r in whole])
    log(f"  ours: p50 {median(ms):.1f} ms, {rss:.0f} MB; whole history parsed: "
        f"{median([r['ms'] for r in whole]):.0f} ms, {whole_rss:.0f} MB; "
        f"first run (summaries made): {first['ms']:.0f} ms")
    fig = Figure("journal_history", "a change's and an undo's journal questions, full history (new process)",
                 median(ms), "ms", TARGET_MS, f"≤ {TARGET_MS:g} ms", stat="median", samples=ms,
                 detail={"history_mb": round(size / 2**20, 1), "rss_mb": rss, "first_run_ms": first["ms"],
                         "whole_rss_mb": whole_rss},
                 note="recovery's interrupted changes, pending unplugs, the damage note and undo's last "
                      f"change, asked by a new process of {KEEP} rotated files of {ROTATED_MB} MB and a "
                      f"current one of {CURRENT_MB} MB; peak RSS {rss:.0f} MB (whole history parsed: "
                      f"{whole_rss:.0f} MB)")
    b = Baseline("the whole history parsed, each question asked of it (before 2026-12-02)",
                 median([r["ms"] for r in whole]), "ms", samples=[r["ms"] for r in whole])
    fig.ratio_against(b)
    floor = Baseline("floor: ours on an empty journal", median([r["ms"] for r in bare]), "ms",
                     samples=[r["ms"] for r in bare])  # what no history costs: no ratio
    fig.baselines = [b, floor]
    return fig
