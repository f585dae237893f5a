"""The command line: `vnet-tui [verb] …`.  Each verb lives in vnet_tui/commands/.

Without a verb it opens the TUI.  Exit codes and JSON errors follow CLI.md.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Optional, Sequence

from vnet_tui import __version__
from vnet_tui.commands.common import Parser, add_server_options, fail, run_command

# verb -> module in vnet_tui.commands exposing register(subparsers)
VERBS = ("show", "lab", "demo", "adapter", "undo", "pair_test")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="vnet-tui",
        description=(
            "See and manage a server's virtual network: containers' veth adapters and VMs' "
            "vme adapters, both ends paired, with live counters. Without a command, opens the TUI."
        ),
        epilog="Run 'vnet-tui COMMAND --help' for a command's options. Try: vnet-tui demo",
    )
    p.add_argument("--version", action="version", version=f"vnet-tui {__version__}")
    add_server_options(p)
    p.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                   help="counter refresh interval for the TUI (default 1.0)")
    p.add_argument("--read-only", action="store_true", help="never change anything (TUI)")
    sub = p.add_subparsers(dest="verb", metavar="COMMAND")
    for verb in VERBS:
        try:
            mod = importlib.import_module(f"vnet_tui.commands.{verb}")
        except ModuleNotFoundError as e:
            if e.name != f"vnet_tui.commands.{verb}":
                raise
            continue
        mod.register(sub)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    from_process = argv is None  # the process's own command line: not a caller's (a test's) in-process call
    argv = list(sys.argv[1:] if argv is None else argv)
    Parser.json_errors = "--json" in argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        try:
            from vnet_tui.ui.launch import run_tui  # deferred: Textual loads only when the TUI opens
        except ModuleNotFoundError:
            return fail(args, 4, "tui", "the TUI is not installed in this build")
        return run_command(args, run_tui)
    rc = run_command(args, args.func)
    if from_process and getattr(args, "exit_at_once", False):
        _exit_now(rc)
    return rc


def _exit_now(rc: int) -> None:
    """Leave without freeing what a one-shot verb built object by object (``show`` at 5,000 containers:
    0.1-0.3 s of the interpreter's teardown); the kernel takes it back whole.  Only once its output is
    out: a flush that fails leaves it to the usual exit, which reports it."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(rc)


if __name__ == "__main__":
    sys.exit(main())
