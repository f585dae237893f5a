"""The revert timer: ``python -m vnet_tui.txn.revert JOURNAL_ID --after SECONDS``.

Started detached by ``confirm.start`` *before* the change is applied (the
change waits until this process has written its pid file).  It sleeps
until the deadline, waking early if the change is confirmed, undone or
aborted; then — holding the server lock (so it waits for a change still
being applied) and the journal lock (so a late confirm cannot race it) —
it reverts the change unless it was confirmed or undone meanwhile, and
journals ``revert``.  A change whose process died before completing it
is recovered (rolled back) instead.  Output goes to
``<state>/vnet-tui-revert-<ID>.log``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import traceback

from vnet_tui.safety import journal
from vnet_tui.safety.detach import daemonize
from vnet_tui.safety.lock import server_lock

from .confirm import pid_file


def _finite(text: str) -> float:
    v = float(text)
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"{text}: a finite number of seconds")
    return v


def settled(entry_id: str) -> str | None:
    """Why there is nothing to revert (confirmed, undone, aborted), or None."""
    es = journal.entries()
    fate = journal.fate(entry_id, es)
    if fate is not None:
        return f"{journal.fate_word(fate)} in time; nothing to revert"
    if journal.outcome(entry_id, es) == "aborted":
        return "the change was not applied (aborted); nothing to revert"
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vnet_tui.txn.revert")
    p.add_argument("entry_id")
    p.add_argument("--after", type=_finite, default=60.0, metavar="SECONDS")
    p.add_argument("--detached", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.detached:
        daemonize()
    pf = pid_file(args.entry_id)
    tmp = pf.with_suffix(".tmp")
    tmp.write_text(str(os.getpid()))
    os.replace(tmp, pf)  # the change waits for this before its first step
    try:
        deadline = time.monotonic() + args.after
        while time.monotonic() < deadline:
            why = settled(args.entry_id)
            if why is not None and journal.outcome(args.entry_id) != "incomplete":
                print(f"{args.entry_id}: {why}")
                return 0
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        with server_lock(f"revert {args.entry_id}", wait=1e9), journal.locked():
            why = settled(args.entry_id)
            if why is not None:
                print(f"{args.entry_id}: {why}")
                return 0
            if journal.outcome(args.entry_id) == "incomplete":
                from .recover import recover_one  # deferred: the pid file first (the change waits for it)

                begin = journal.find(args.entry_id)
                assert begin is not None
                print(f"{args.entry_id}: not confirmed and never completed: " + recover_one(begin, lock=False))
                return 0
            from .undo import undo  # deferred: the pid file first (the change waits for it), ops after

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
