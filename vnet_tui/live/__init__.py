"""Live data for the TUI, free of Textual.

A *feed* follows one server and calls plain callbacks: a new
``Topology`` when the structure changed, a ``Sample`` of counters and
rates at each sweep, and an error text when it has to stop.  The TUI
turns those callbacks into coalescing messages; tests and benchmarks can
drive a feed directly.

- ``watcher.Watcher``: the real thing — netlink events on every watched
  namespace, stats-only sweeps on long-lived sockets, periodic rescans.
- ``recorded.RecordedFeed``: a frozen topology (``show --json``) for
  snapshots and for looking at a server's recording.
"""

from .feed import EndKey, Feed, Sample

__all__ = ["EndKey", "Feed", "Sample"]
