"""What every verb shares: choosing the server, errors and exit codes (CLI.md)."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import traceback
from typing import Callable, NoReturn, Optional

from vnet_tui.core.errors import InvalidInput, VnetError

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


class Parser(argparse.ArgumentParser):
    """argparse with CLI.md's errors: exit 2, and ``{"error": …}`` on stdout under ``--json``.

    Sub-parsers are made of the same class, so every verb's usage mistakes
    (unknown option, a value that is not a number, a missing argument) are
    reported the same way.
    """

    json_errors = False  # set by main() when --json is on the command line

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        from vnet_tui.core.text import visible  # deferred: rich, not at CLI start

        message = visible(message)
        if Parser.json_errors:
            print(json.dumps({"error": {"code": INVALID, "rule": "usage", "message": message}}))
            sys.exit(INVALID)
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message} [usage]", file=sys.stderr)
        sys.exit(INVALID)


def confirm_timeout(text: str) -> float:
    """``--confirm-timeout``: finite seconds within the revert timer's range (txn.confirm)."""
    from vnet_tui.txn.confirm import check_confirm_timeout  # deferred: not at CLI start (pyroute2)

    try:
        return check_confirm_timeout(text)
    except InvalidInput as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def plain_doc(doc: str | None) -> str:
    """A module docstring as --help text: reST's ``literal`` quotes and `backticks` dropped."""
    return (doc or "").replace("``", "").replace("`", "")


def fail(args: argparse.Namespace, code: int, rule: str, message: str) -> int:
    """Report an error as text or, with --json, as {"error": {...}}; return its exit code."""
    from vnet_tui.core.text import for_json, visible  # deferred: rich, not at CLI start

    if getattr(args, "json", False):
        print(json.dumps(for_json({"error": {"code": code, "rule": rule, "message": message}})))
    else:
        print(f"vnet-tui: error: {visible(message)}" + (f" [{rule}]" if rule else ""), file=sys.stderr)
    return code


def _denied(e: BaseException) -> bool:
    """An error caused by a refused permission (EPERM/EACCES) somewhere down its chain."""
    seen = 0
    cur: Optional[BaseException] = e
    while cur is not None and seen < 10:
        if isinstance(cur, PermissionError) or getattr(cur, "errno", None) in (errno.EPERM, errno.EACCES):
            return True
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return "Operation not permitted" in str(e)


def run_command(args: argparse.Namespace, fn: Callable[[argparse.Namespace], Optional[int]]) -> int:
    """Run a verb; turn VnetError and interrupts into clear messages and exit codes."""
    try:
        return fn(args) or OK
    except VnetError as e:
        code = e.code
        if code == NOT_FOUND and _denied(e):
            code = NOT_PERMITTED  # "no such lab (setns: Operation not permitted)" is not "no such"
        return fail(args, code, e.rule if code == e.code else "privilege", str(e))
    except BrokenPipeError:
        # output piped into `head` and the reader went away: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return OK
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except PermissionError as e:
        return fail(args, NOT_PERMITTED, "privilege", f"{e.strerror or e}: needs root / CAP_NET_ADMIN")
    except OSError as e:  # a system error no layer turned into a VnetError: said, not a traceback
        return fail(args, FAILED, "system", f"{e.strerror or e}" + (f": {e.filename}" if e.filename else ""))
    except Exception as e:  # never a traceback for any input; VNET_TUI_DEBUG=1 shows it
        if os.environ.get("VNET_TUI_DEBUG"):
            traceback.print_exc()
        return fail(args, FAILED, "internal", f"internal error: {type(e).__name__}: {e} "
                                             "(VNET_TUI_DEBUG=1 shows where)")
