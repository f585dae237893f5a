"""`vnet-tui undo [--dry-run]`: revert the last change vnet-tui made (from the journal).

With ``--lab NAME``/``--netns NAME`` it reverts the last change on that
server; ``--id ID`` picks a change from the journal.  Exit codes and
``--json`` errors as in CLI.md.
"""

from __future__ import annotations

import argparse
import json

from vnet_tui.commands.common import add_server_options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("undo", help="revert the last adapter change (from the journal)", description=__doc__)
    add_server_options(p)
    p.add_argument("--id", metavar="ID", help="the journal id of the change to revert")
    p.add_argument("--dry-run", action="store_true", help="show the commands that would revert it")
    p.add_argument("--json", action="store_true")
    p.add_argument("--list", action="store_true", help="list the journal's recent changes")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vnet_tui.commands.adapter import report
    from vnet_tui.core.server import Server
    from vnet_tui.safety import journal
    from vnet_tui.safety.undo import undo

    server = Server.from_args(args) if (getattr(args, "lab", None) or getattr(args, "netns", None)) else None
    if args.list:
        all_entries = journal.entries()
        rows = [
            {
                "id": e["id"],
                "time": e.get("time"),
                "op": e.get("op"),
                "title": e.get("title"),
                "fate": journal.fate(e["id"], all_entries),
            }
            for e in all_entries[-30:]
        ]
        if args.json:
            print(json.dumps({"journal": rows}, indent=1))
        else:
            for r in rows:
                print(
                    f"{r['id']}  {r['op']:<9} {r['title'] or ''}"
                    + (f"  [{journal.fate_word(r['fate'])}]" if r["fate"] else "")
                )
        return 0
    result = undo(server, entry_id=args.id, dry_run=args.dry_run)
    return report(args, result)
