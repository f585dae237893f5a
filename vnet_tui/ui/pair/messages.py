"""Messages from the pair view's thread workers to its screen; trace bursts coalesce.

Workers never touch widgets: the traffic test posts ``TraceBatch`` (the
new trace lines since the last batch, merged when one is still queued,
so no line is lost), then ``TestDone`` or ``TestFailed``; the guest
poller posts ``GuestPolled``.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.message import Message

from vnet_tui.pair.watch import GuestReading

MAX_LINES = 400  # a batch never carries more than the trace log shows


class TraceBatch(Message):
    """New lines of the live trace, with the running totals."""

    def __init__(self, lines: list[Text], sent: int, received: int, total: int) -> None:
        super().__init__()
        self.lines = lines
        self.sent, self.received, self.total = sent, received, total

    def can_replace(self, message: Message) -> bool:
        """The newer batch stands in for this queued one, carrying its lines first."""
        if isinstance(message, TraceBatch):
            message.lines = (self.lines + message.lines)[-MAX_LINES:]
            return True
        return False


class TestDone(Message):
    """The traffic test finished (``result``: the pair-test result dict)."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__()
        self.result = result


class TestFailed(Message):
    """The traffic test could not run (the reason, for people)."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class GuestPolled(Message):
    """A VM adapter's guest side, as its agent reported it (or why it could not)."""

    def __init__(self, reading: GuestReading) -> None:
        super().__init__()
        self.reading = reading

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, GuestPolled)
