"""What the panes' columns are and how a rate cell reads: names, widths, fitting, rate texts.

Pure functions and tables (no widget): panes.py lays them into its tables.
"""

from __future__ import annotations

from typing import Optional

from rich.text import Text

from vnet_tui.core.rates import Rate
from vnet_tui.core.units import human_rate

from .looks import LOOKS
from .rows import SortText

RATES = [("rx", "rx/s"), ("tx", "tx/s")]
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "host": [("name", "interface"), ("kind", "kind"), ("state", "state"), ("mac", "MAC"),
             ("addr", "addresses"), ("master", "master"), ("peer", "peer")] + RATES,
    "containers": [("owner", "container"), ("runtime", "runtime"), ("name", "guest end"), ("state", "state"), ("mac", "MAC"),
                   ("addr", "addresses"), ("hostend", "host end"), ("master", "bridge")] + RATES,
    "vms": [("owner", "VM"), ("vmstate", "VM state"), ("name", "adapter"), ("mac", "guest MAC"),
            ("addr", "guest IPs"), ("hostend", "host tap"), ("state", "tap state"), ("master", "bridge")] + RATES,
}
TITLES = {"host": "Host", "containers": "Containers", "vms": "VMs"}
SORTS = ("name", "rx", "tx")
# which columns stay when the pane is narrow: first the row's name and its rates, then the rest
# by how much an operator needs them in a list (MACs and addresses are in the detail pane)
PRIORITY: dict[str, list[str]] = {
    "host": ["name", "rx", "tx", "state", "peer", "kind", "master", "addr", "mac"],
    "containers": ["owner", "name", "rx", "tx", "state", "hostend", "runtime", "addr", "master", "mac"],
    "vms": ["owner", "name", "rx", "tx", "vmstate", "hostend", "state", "addr", "master", "mac"],
}
ALWAYS = {"owner", "name", "rx", "tx"}  # never dropped: the container or VM, the row's name, its rates
# shown only when some row has something in them: a VM's guest IPs come from lab guest agents alone
WHEN_FILLED: dict[str, set[str]] = {"vms": {"addr"}}
RATE_WIDTH = 9  # "1023.9K/s"


def fit_columns(pane: str, widths: dict[str, int], room: int, padding: int = 1) -> list[str]:
    """The columns that fit in ``room`` cells, by priority, in the pane's own order.

    ``widths`` holds each column's content width (header included);
    every column also takes ``padding`` cells on each side.
    """
    keep: set[str] = set()
    used = 0
    for col in PRIORITY[pane]:
        if widths.get(col, 0) < 0:  # WHEN_FILLED and empty in every row
            continue
        w = widths.get(col, 0) + 2 * padding
        if col in ALWAYS or used + w <= room:
            keep.add(col)
            used += w
    return [k for k, _ in COLUMNS[pane] if k in keep]


def rate_values(rate: Optional[Rate], swap: bool) -> tuple[float, float]:
    """(rx, tx) bytes/s as the row shows them; -1 before the first rate."""
    if rate is None:
        return -1.0, -1.0
    return (rate.tx_bps, rate.rx_bps) if swap else (rate.rx_bps, rate.tx_bps)


def rate_text(v: float) -> str:
    """Same text as ``units.human_rate``, about 4× faster (it runs for every changed cell)."""
    if v < 0:
        return "·"
    if v < 1024:
        return f"{v:.0f}B/s"
    if v < 1048576:
        return f"{v / 1024:.1f}K/s"
    if v < 1073741824:
        return f"{v / 1048576:.1f}M/s"
    return human_rate(v)


_UNITS = {"B": 1.0, "K": 1024.0, "M": 1048576.0, "G": 1073741824.0, "T": 1099511627776.0}
_RATE_CELLS: dict[tuple[str, bool], SortText] = {}
LOOKS.on_change(_RATE_CELLS.clear)


def shown_value(text: str) -> float:
    """The bytes/s a rate text shows ("1.2K/s" → 1228.8; "·" → -1): what rate columns sort by."""
    body = text[:-2] if text.endswith("/s") else text
    try:
        return float(body[:-1]) * _UNITS[body[-1]]
    except (KeyError, ValueError, IndexError):
        return -1.0


def rate_cell(text: str, v: float) -> SortText:
    """A rate cell that sorts by the value it shows.

    Cells are shared: one per (text, idle) — with a thousand ends moving
    every second most show one of a few hundred texts, and building a
    Text for each was a fifth of the UI's streaming work.  Nothing renders
    into a cell (DataTable renders copies), so sharing is safe; a new
    palette (looks.py) drops them.
    """
    idle = v <= 0
    cell = _RATE_CELLS.get((text, idle))
    if cell is None:
        if len(_RATE_CELLS) >= 8192:
            _RATE_CELLS.clear()
        style = LOOKS.rate_idle if idle else LOOKS.rate_busy
        cell = _RATE_CELLS[(text, idle)] = SortText(text, style=style, sort=shown_value(text),
                                                    justify="right")
    return cell


def same_width(width: int, was: Optional[Text], cell: Text) -> bool:
    """Would ``update_cell(..., update_width=True)`` leave a column ``width`` wide as it is?

    True when the new text fits and the old one was not the widest (the
    column cannot shrink); then the cell can be set without re-measuring
    the column (which, for a narrower text, measures every row).
    """
    if not isinstance(was, Text) or not isinstance(cell, Text) or "\n" in cell.plain or "\n" in was.plain:
        return False
    old, new = was.cell_len, cell.cell_len
    return new <= width and (old < width or new == old)
