"""The palette of text built outside a widget's render, read from app.tcss.

Rows, rate cells, the detail's words, the help and the forms' and pair view's lines are
Rich Text made by plain functions — rows for thousands of adapters at a time — so they
cannot ask CSS per cell.  Their styles are component classes ``looks--NAME`` (app.tcss,
one per role: an owner, a note, a bad count); ``LOOKS`` holds them as Rich styles, read
once from a widget that declares them (``LOOKS.read(widget)``: the panes, on mount and
after a theme change), and the functions take them from there.  Until a widget has read
them (a test without an app) every look is the plain style.

    t.append(f"{errs} err", style=LOOKS.bad if errs else LOOKS.note)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from rich.style import Style

if TYPE_CHECKING:
    from textual.widget import Widget

# role -> what it marks (the styles are in app.tcss, `.looks--ROLE`)
ROLES = {
    "owner": "a row's container or VM",
    "kind": "a row's kind or runtime",
    "none": "a row that has no adapter",
    "gone": "a VM adapter whose tap is gone",
    "up": "state up", "down": "state down", "running": "VM running", "paused": "VM paused",
    "state": "any other state",
    "more": "how many more addresses (+2)",
    "peer-vm": "a peer that is a VM's NIC",
    "peer-container": "a peer in a container",
    "peer-hidden": "a peer in a namespace not entered",
    "rate-idle": "a rate cell at zero",
    "rate-busy": "a rate cell that moves",
    "label": "a line's heading word",
    "note": "words about the facts",
    "aside": "a remark in italics",
    "name": "an adapter's name as a heading",
    "ref": "an adapter's name in a line",
    "key": "a key in the help",
    "words": "policy words, values as set",
    "warn": "a warning",
    "caution": "a warning's mark",
    "hint": "why something is missing",
    "bad": "a count that should be zero",
    "alarm": "a failure",
    "good": "what went well",
    "done": "a success mark",
    "flagged": "what a policy changed",
}
CLASSES = frozenset(f"looks--{r}" for r in ROLES)
"""Component classes a widget declares to be a source of the palette."""


def _attr(role: str) -> str:
    return role.replace("-", "_")


class Looks:
    """Each role's Rich style, as attributes (``LOOKS.peer_vm``); ``generation`` counts changes."""

    owner: Style
    kind: Style
    none: Style
    gone: Style
    up: Style
    down: Style
    running: Style
    paused: Style
    state: Style
    more: Style
    peer_vm: Style
    peer_container: Style
    peer_hidden: Style
    rate_idle: Style
    rate_busy: Style
    label: Style
    note: Style
    aside: Style
    name: Style
    ref: Style
    key: Style
    words: Style
    warn: Style
    caution: Style
    hint: Style
    bad: Style
    alarm: Style
    good: Style
    done: Style
    flagged: Style

    def __init__(self) -> None:
        self.generation = 0
        self._listeners: list[Callable[[], None]] = []
        self._set({r: Style.null() for r in ROLES})

    def _set(self, styles: dict[str, Style]) -> None:
        for role, style in styles.items():
            setattr(self, _attr(role), style)
        self.states = {"up": self.up, "down": self.down, "running": self.running, "paused": self.paused}

    def read(self, widget: "Widget") -> bool:
        """Take the styles from ``widget``'s ``looks--`` component classes; True when they changed
        (then rows and cells built before are stale: ``generation`` moves, listeners run)."""
        styles = {r: widget.get_component_rich_style(f"looks--{r}", partial=True) for r in ROLES}
        if all(getattr(self, _attr(r)) == s for r, s in styles.items()):
            return False
        self._set(styles)
        self.generation += 1
        for fn in self._listeners:
            fn()
        return True

    def on_change(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` whenever the palette changes (a cache of styled text to drop)."""
        self._listeners.append(fn)

    def of_state(self, state: str) -> Style:
        """A link's or a VM's state: up and running green, down red, anything else as ``state``."""
        return self.states.get(state, self.state)


LOOKS = Looks()
