"""Messages from the live feed's thread to the app; bursts coalesce.

The feed calls plain callbacks in its own thread; the app turns them into
these messages (``post_message`` is the one thread-safe call).  A newer
message of the same kind replaces an older one still queued
(``can_replace``): each carries the whole current state, so nothing is
lost when an older one is dropped.
"""

from __future__ import annotations

from textual.message import Message

from vnet_tui.core.model import Topology
from vnet_tui.live.feed import Sample


class TopologyChanged(Message):
    """The server's structure changed (or was read for the first time)."""

    def __init__(self, topo: Topology) -> None:
        super().__init__()
        self.topo = topo

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TopologyChanged)


class CountersUpdated(Message):
    """A sweep of every end's counters and rates."""

    def __init__(self, sample: Sample) -> None:
        super().__init__()
        self.sample = sample

    def can_replace(self, message: Message) -> bool:
        """Textual asks the older message whether the newer one may stand in for it.

        It may; it takes over the older one's list of changed ends, so the
        rows that moved only in the dropped sweep are still updated.
        """
        if isinstance(message, CountersUpdated):
            message.sample = message.sample.after(self.sample)
            return True
        return False


class FeedFailed(Message):
    """The feed stopped: the reason, for people."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class PolicyWords(Message):
    """A host end's policy, read from the kernel in a worker: its summary words (empty: none, or unreadable).

    Not "PolicyRead": the pair view has a message of that name, and a handler is found by name
    (on_policy_read) wherever the message bubbles to."""

    def __init__(self, ifname: str, words: list[str]) -> None:
        super().__init__()
        self.ifname = ifname
        self.words = words


class RecoveryNotes(Message):
    """What the start settled of changes an earlier process left half-made (txn.recover.at_start)."""

    def __init__(self, notes: list[str]) -> None:
        super().__init__()
        self.notes = notes


class GuestIpsRead(Message):
    """What the lab VMs' guest agents report for their NICs (discovery.guestips.read), and who did not answer."""

    def __init__(self, ips: dict, silent: list[int]) -> None:
        super().__init__()
        self.ips = ips
        self.silent = silent
