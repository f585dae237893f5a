"""`vnet-tui [--lab NAME | --netns NAME] [--interval S] [--read-only]`: open the TUI."""

from __future__ import annotations

import resource
from typing import Any

from vnet_tui.core.errors import InvalidInput
from vnet_tui.core.server import Server

MIN_INTERVAL, MAX_INTERVAL = 0.1, 60.0


def raise_fd_limit() -> None:
    """Three fds per watched namespace: lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 1 << 20, hard))
        except (ValueError, OSError):
            pass


def check_interval(seconds: float) -> float:
    if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
        raise InvalidInput(f"--interval must be between {MIN_INTERVAL:g} and {MAX_INTERVAL:g} seconds",
                           rule="interval")
    return seconds


def run_tui(args: Any) -> int:
    """Open the TUI on the server ``args`` names; returns the exit status."""
    from vnet_tui.discovery.topology import Discoverer
    from vnet_tui.live.watcher import Watcher

    from .app import VnetApp

    interval = check_interval(float(getattr(args, "interval", 1.0) or 1.0))
    server = Server.from_args(args)
    raise_fd_limit()
    discoverer = Discoverer(server)  # fails here, before the screen opens, if the server is unknown
    feed = Watcher(server, interval=interval, discoverer=lambda _s: discoverer)
    app = VnetApp(feed, read_only=bool(getattr(args, "read_only", False)))
    notice = getattr(args, "notice", None)
    if notice:  # e.g. demo: whose lab this is (shown once the screen is up)
        app.notify(notice, title="vnet-tui demo", timeout=15)
    try:
        app.run()
    finally:
        feed.stop()
        if feed.abandon():
            discoverer.close()
        elif not feed.join(5):
            raise RuntimeError("the live watcher did not stop")
    return app.return_code or 0
