"""Errors that reach the operator: each names its rule and carries an exit code (CLI.md)."""

from __future__ import annotations


class VnetError(Exception):
    """An error with a rule name and an exit code; the message is for people."""

    code = 1

    def __init__(self, message: str, rule: str = "", code: int | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        if code is not None:
            self.code = code


class ChangeFailed(VnetError):
    """The change failed and was rolled back (exit 1)."""

    code = 1


class InvalidInput(VnetError):
    """Bad input; nothing was changed (exit 2)."""

    code = 2


class NotPermitted(VnetError):
    """No privilege, read-only, or a protected interface without confirmation (exit 3)."""

    code = 3


class NotFound(VnetError):
    """No such container, VM, interface, lab or namespace (exit 4)."""

    code = 4
