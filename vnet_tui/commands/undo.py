"""`vnet-tui undo [--dry-run]`: revert the last change vnet-tui made (from the journal).

With ``--lab NAME``/``--netns NAME`` it reverts the last change on that
server; ``--id ID`` picks a change from the journal.  Exit codes and
``--json`` errors as in CLI.md.
"""

from __future__ import annotations

import argparse
import json
import sys

from vnet_tui.commands.adapter import report
from vnet_tui.commands.common import add_server_options
from vnet_tui.core.server import Server


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("undo", help="revert the last adapter change (from the journal)", description=__doc__)
    add_server_options(p)
    p.add_argument("--id", metavar="ID", help="the journal id of the change to revert")
    p.add_argument("--dry-run", action="store_true", help="show the commands that would revert it")
    p.add_argument("--json", action="store_true")
    p.add_argument("--list", action="store_true", help="list the journal's recent changes")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vnet_tui.core.text import visible  # deferred: rich, not at CLI start
    from vnet_tui.safety import journal  # deferred: loads when the verb runs, not at CLI start
    from vnet_tui.txn.undo import undo  # deferred: loads when the verb runs, not at CLI start

    server = Server.from_args(args) if (getattr(args, "lab", None) or getattr(args, "netns", None)) else None
    if args.list:
        all_entries = journal.entries()
        done_ids = {e["id"] for e in all_entries if e.get("op") != "begin"}
        rows = []
        for e in all_entries:
            if e.get("op") == "begin" and e["id"] in done_ids:
                continue  # its change line follows
            if journal.same_server(e, server) is not None:
                continue  # another server, another lab instance, or (with --lab/--netns) another host
            outcome = journal.outcome(e["id"], all_entries) if e.get("op") == "begin" else None
            rows.append(
                {
                    "id": e["id"],
                    "time": e.get("time"),
                    "op": e.get("op") if outcome is None else "interrupted",
                    "title": e.get("title"),
                    "fate": journal.fate(e["id"], all_entries) or ("aborted" if outcome == "aborted" else None),
                }
            )
        rows = rows[-30:]
        damage = journal.damage()
        if args.json:
            print(json.dumps({"journal": rows, "damaged": damage}, indent=1))
        else:
            for r in rows:
                print(
                    visible(f"{r['id']}  {r['op']:<11} {r['title'] or ''}")
                    + (f"  [{journal.fate_word(r['fate'])}]" if r["fate"] else "")
                )
            note = journal.damage_note()
            if note:
                print("warning: " + note, file=sys.stderr)
        return 0
    result = undo(server, entry_id=args.id, dry_run=args.dry_run)
    return report(args, result)
