"""The revert timer: ``python -m vnet_tui.safety.revert JOURNAL_ID --after SECONDS``.

Started detached by ``confirm.start``.  It sleeps until the deadline,
waking early if the change is confirmed, then — holding the journal lock
so a late confirm cannot race it — reverts the change unless it was
confirmed or undone meanwhile, and journals ``revert``.  Output goes to
``<state>/vnet-tui-revert-<ID>.log``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

from . import journal


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vnet_tui.safety.revert")
    p.add_argument("entry_id")
    p.add_argument("--after", type=float, default=60.0, metavar="SECONDS")
    p.add_argument("--detached", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.detached:
        from .detach import daemonize

        daemonize()
    from .confirm import pid_file

    pf = pid_file(args.entry_id)
    pf.write_text(str(os.getpid()))
    try:
        deadline = time.monotonic() + args.after
        while time.monotonic() < deadline:
            fate = journal.fate(args.entry_id)
            if fate is not None:
                print(f"{args.entry_id}: {journal.fate_word(fate)} in time; nothing to revert")
                return 0
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        with journal.locked():
            fate = journal.fate(args.entry_id)
            if fate is not None:
                print(f"{args.entry_id}: {journal.fate_word(fate)} in time; nothing to revert")
                return 0
            from .undo import undo

            try:
                result = undo(entry_id=args.entry_id, op="revert", lock=False)
            except Exception as e:
                traceback.print_exc()
                entry = journal.find(args.entry_id)
                if entry is not None:
                    journal.append(
                        "revert-failed",
                        journal.server_of(entry),
                        {"ref": args.entry_id, "title": f"revert failed: {e}"},
                        lock=False,
                    )
                return 1
        print(f"{args.entry_id}: not confirmed within {args.after:g} s; reverted: {result.title}")
        for c in result.commands:
            print("  " + c)
        return 0
    finally:
        pf.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
