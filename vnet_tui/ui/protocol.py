"""What a screen or widget may ask of the app: the state it follows and the few services it calls.

Screens type ``self.app`` through ``VnetAppState`` (``vnet_app(node)``)
instead of importing the app class: the app owns the feed and the state
(``topo``, ``sample`` and the operator's choices); screens and widgets
follow it (``watch``) and never reach into one another.  The palette
and the change keys (palette.py, changes.py) type it so too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Optional, Protocol, cast

from vnet_tui.core.model import Topology
from vnet_tui.core.server import Server
from vnet_tui.live.feed import Feed, Sample

if TYPE_CHECKING:
    from textual.dom import DOMNode

    from .main import MainScreen
    from .rows import Row


class VnetAppState(Protocol):
    """The app as its screens see it."""

    feed: Feed
    server: Optional[Server]
    read_write: bool
    why: str  # why read-only (or what is limited)
    topo: Optional[Topology]  # the feed's latest topology (a var: watch it)
    sample: Optional[Sample]  # the feed's latest counters and rates (a var: watch it)
    filter_text: str  # a var: watch it
    sort_mode: str  # a var: watch it
    interval: float  # a var: watch it
    paused: bool  # a var: watch it
    problem: str  # why the feed stopped ('' while it runs; a var: watch it)
    guest_ips: dict[Any, Any]  # lab VMs' NIC addresses as their agents last said
    policy_words: dict[str, list[str]]  # the shown host end's policy, by ifname (a var: watch it)

    def policy_for(self, row: "Optional[Row]") -> Optional[list[str]]: ...

    @property
    def screen(self) -> Any: ...  # the screen on top

    @property
    def main(self) -> "MainScreen": ...  # the main screen (the selection, the keys that act on it)

    def selected_row(self) -> "Optional[Row]": ...

    def visible_rows(self) -> "dict[str, list[Row]]": ...

    def go_to(self, pane: str, key: str) -> None: ...

    def push_screen(self, screen: Any, *args: Any, **kw: Any) -> Any: ...

    def run_action(self, action: str, default_namespace: "Optional[DOMNode]" = None) -> Awaitable[bool]: ...

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: Optional[float] = None, markup: bool = True) -> None: ...


def vnet_app(node: "DOMNode") -> VnetAppState:
    """``node.app`` as the vnet-tui app."""
    return cast(VnetAppState, node.app)
