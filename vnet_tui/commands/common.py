"""What every verb shares: choosing the server, errors and exit codes (CLI.md)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, Optional

from vnet_tui.core.errors import VnetError

# exit status (CLI.md)
OK, FAILED, INVALID, NOT_PERMITTED, NOT_FOUND = 0, 1, 2, 3, 4


def add_server_options(p: argparse.ArgumentParser) -> None:
    """--lab NAME | --netns NAME: which 'host' to look at."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--lab", metavar="NAME", default=argparse.SUPPRESS,
                   help="a lab's host namespace vl-NAME-host (see 'vnet-tui lab')")
    g.add_argument("--netns", metavar="NAME", default=argparse.SUPPRESS,
                   help="a named network namespace (ip netns) as the host")


def number(cast: "type[int] | type[float]", minimum: float, *, strict: bool = False,
           says: str = "") -> "Callable[[str], int | float]":
    """An argparse type: ``cast`` of the text, at least ``minimum`` (above it when ``strict``)."""

    def parse(text: str) -> "int | float":
        try:
            n = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if n < minimum or (strict and n == minimum):
            raise argparse.ArgumentTypeError(says)
        return n

    return parse


def fail(args: argparse.Namespace, code: int, rule: str, message: str) -> int:
    """Report an error as text or, with --json, as {"error": {...}}; return its exit code."""
    if getattr(args, "json", False):
        print(json.dumps({"error": {"code": code, "rule": rule, "message": message}}))
    else:
        print(f"vnet-tui: error: {message}" + (f" [{rule}]" if rule else ""), file=sys.stderr)
    return code


def run_command(args: argparse.Namespace, fn: Callable[[argparse.Namespace], Optional[int]]) -> int:
    """Run a verb; turn VnetError and interrupts into clear messages and exit codes."""
    try:
        return fn(args) or OK
    except VnetError as e:
        return fail(args, e.code, e.rule, str(e))
    except BrokenPipeError:
        # output piped into `head` and the reader went away: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return OK
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except PermissionError as e:
        return fail(args, NOT_PERMITTED, "privilege", f"{e.strerror or e}: needs root / CAP_NET_ADMIN")
