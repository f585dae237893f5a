"""The journal's pending VM unplugs: deletes whose guest has not released the NIC yet.

Read from the journal's summary (``journalsummary``): rotated files from
the summary kept beside each, the current file from where the last call
stopped.  The result is the same as filtering ``journal.entries()``.  The
transactions layer's finisher (``txn/finisher.py``) works through what
this finds.
"""

from __future__ import annotations

from .journalsummary import pending_unplugs

__all__ = ["pending_unplugs"]
