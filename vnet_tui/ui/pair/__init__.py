"""The pair view (``p`` on an adapter): both ends live, the mirror check, traffic through it on ``t``."""

from __future__ import annotations

from ..protocol import VnetAppState
from .screen import PairScreen


def open_pair_view(app: VnetAppState) -> None:
    """Open the pair view on the selected adapter (or say why not)."""
    from ..changes import adapter_of

    if isinstance(app.screen, PairScreen):
        return
    row = app.selected_row()
    a = adapter_of(row)
    if row is None or a is None or row.host is None:
        app.notify("select an adapter (a container's or a VM's) to see its two ends", timeout=3)
        return
    app.push_screen(PairScreen(app.main.last_pane, row.key, a[0], a[1]))


__all__ = ["PairScreen", "open_pair_view"]
