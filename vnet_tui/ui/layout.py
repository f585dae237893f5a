"""How the main screen shares its lines: panes sized by what they hold, the detail pane by what is left.

Pure arithmetic (no Textual), so the rules are tested on their own:

- a pane asks for its rows plus its frame (border and column header); an
  empty pane asks for one line, where its title says "no matches";
- when every pane fits, each gets what it asks for and the detail pane
  takes the rest (it grows its sparklines into it);
- when they do not, the lines are shared out evenly ("water filling"):
  a small pane keeps all its rows, the big ones share what remains —
  never empty rows in one pane while another is cut;
- on a short terminal the detail pane folds to one summary line (``i``
  opens it again; ``enter`` shows it full screen).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

DETAIL_FULL = 12  # lines the detail pane needs to show both ends with their counters
DETAIL_MIN = 9  # the least it opens with unasked: both ends' facts and counters, no sparklines
FOLDED_MAX = 4  # a folded detail: the summary line and, with room, a line per end and a hint
DETAIL_BIG = 16  # from here the detail pane shows sparkline titles and grows its sparklines
SHORT = 32  # terminals with fewer lines fold the detail pane to one line (unless asked)
COMPACT_H, COMPACT_W = 36, 100  # below either: panes drawn with a top rule only


@dataclass(frozen=True)
class Plan:
    """Heights (lines) of the three panes and the detail pane, and how to draw them."""

    panes: tuple[int, ...]
    detail: int
    detail_open: bool  # False: the one-line summary
    compact: bool  # panes framed by a top rule only (saves 2 columns and a line each)


def frame(compact: bool) -> int:
    """Lines a pane spends besides its rows: border(s) and the column header."""
    return 2 if compact else 3


def share(wants: list[int], room: int, least: int = 1) -> list[int]:
    """Give each of ``wants`` at most what it wants, sharing ``room`` evenly (water filling).

    Every share is at least ``min(want, least)`` even if that overflows ``room``.
    """
    floor = [min(w, least) for w in wants]
    if sum(wants) <= room:
        return list(wants)

    def at(level: int) -> list[int]:
        return [max(f, min(w, level)) for w, f in zip(wants, floor)]

    lo, hi = 0, max(wants)  # the highest level whose total still fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sum(at(mid)) <= room:
            lo = mid
        else:
            hi = mid - 1
    out = at(lo)
    spare = room - sum(out)
    for i, w in enumerate(wants):  # hand out what is left, one line each, in order
        if spare <= 0:
            break
        if out[i] < w:
            out[i] += 1
            spare -= 1
    return out


def plan(width: int, height: int, rows: list[int], detail: Optional[bool] = None) -> Plan:
    """Share ``height`` lines (between the header and the footer) among panes holding ``rows``.

    ``detail``: the operator's choice for the detail pane (None: by the terminal's height).
    """
    compact = height + 2 < COMPACT_H or width < COMPACT_W
    f = frame(compact)
    wants = [f + max(1, n) for n in rows]
    least = f + 1
    if detail is None:
        detail = height + 2 >= SHORT or height - sum(wants) >= DETAIL_MIN
    if detail:
        reserve = DETAIL_FULL if height + 2 >= SHORT else DETAIL_MIN  # what the detail keeps when panes are cut
        room = max(height - reserve, len(rows) * least)
        panes = share(wants, room, least)
        return Plan(tuple(panes), max(height - sum(panes), 3), True, compact)
    panes = share(wants, height - 1, least)
    spare = height - 1 - sum(panes)
    folded = 1 + min(max(spare, 0), FOLDED_MAX - 1)  # the panes hold everything: more of the summary
    if spare > FOLDED_MAX - 1:  # and the last pane the rest (no blank gap between them)
        panes[-1] += spare - (FOLDED_MAX - 1)
    return Plan(tuple(panes), folded, False, compact)
