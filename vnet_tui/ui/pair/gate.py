"""Whether the pair view may start a test now: one check for every test key (t s l and i)."""

from __future__ import annotations

from typing import Any

from ..protocol import vnet_app


def may_start(view: Any, nothing_live: str, title: str) -> bool:
    """True if a test may start; else False, and a notification says why: a test is running, this is a
    recording (there is no live ``nothing_live``), the app is read-only (``title`` says what the
    test would do), or the adapter is gone."""
    app = vnet_app(view)
    if view.running:
        view.notify("a test is running", timeout=2)
        return False
    if app.server is None or app.topo is None:
        view.notify(f"a recording: there is no live {nothing_live}", severity="warning", timeout=4)
        return False
    if not app.read_write:
        view.notify(f"read-only: {app.why}", title=title, severity="warning", timeout=4)
        return False
    ends = view.ends
    if ends is None or ends.host is None or ends.host.iface is None:
        view.notify("the adapter is gone", severity="warning", timeout=3)
        return False
    return True
