"""The results: a table for people (rich), JSON for machines, Markdown for the README."""

from __future__ import annotations

import json
import math
import os
from typing import Any, Optional

from rich.console import Console
from rich.table import Table

from .common import Baseline, Figure

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def num(v: Optional[float], unit: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    a = abs(v)
    text = f"{v:,.0f}" if a >= 100 else f"{v:.1f}" if a >= 10 else f"{v:.2f}"
    return f"{text} {unit}".strip()


def ratio(r: Optional[float]) -> str:
    if r is None:
        return "—"
    return f"{r:,.0f}×" if r >= 100 else f"{r:.1f}×" if r >= 1 else f"{r:.2f}×"


def verdict(p: Optional[bool]) -> str:
    return "—" if p is None else "PASS" if p else "FAIL"


def _ours(f: Figure) -> str:
    return num(f.ours, f.unit) + (f" ({f.stat})" if f.stat != "median" else "")


def _ratio(b: Baseline) -> str:
    return ratio(b.ratio) + (f" (≥ {b.ratio_target:g}×)" if b.ratio_target else "")


def lines(f: Figure) -> list[list[str]]:
    """The figure's table lines: the first carries it, one more per further baseline."""
    first = [f.name, _ours(f), f.target_text]
    if not f.baselines:
        return [first + ["—", "—", verdict(f.passed)]]
    out = []
    for i, b in enumerate(f.baselines):
        head = first if i == 0 else ["", "", ""]
        out.append(head + [f"{b.name}: {num(b.value, b.unit)}", _ratio(b), verdict(f.passed) if i == 0 else ""])
    return out


def print_table(figs: list[Figure], machine_line: str, console: Optional[Console] = None) -> None:
    c = console or Console(width=max(170, Console().width))
    t = Table(title="vnet-tui benchmark", caption=machine_line)
    for col, kw in (("figure", {"max_width": 44}), ("ours", {"justify": "right", "no_wrap": True}),
                    ("target", {"max_width": 26}), ("baseline(s), same run", {}),
                    ("ratio", {"justify": "right", "no_wrap": True}), ("pass/fail", {"no_wrap": True})):
        t.add_column(col, **kw)
    for f in figs:
        ls = lines(f)
        for i, r in enumerate(ls):
            style = {"PASS": "green", "FAIL": "bold red"}.get(r[-1], "")
            t.add_row(*r[:-1], f"[{style}]{r[-1]}[/]" if style else r[-1], end_section=i == len(ls) - 1)
    c.print(t)
    for line in notes(figs):
        c.print(f"  {line}", highlight=False)


def notes(figs: list[Figure]) -> list[str]:
    """One line per figure that has something to add (sizes, method, an error)."""
    return [f"{f.name.strip()}: {f.note}" for f in figs if f.note]


def markdown(figs: list[Figure]) -> str:
    out = ["| figure | ours | target | baseline(s), same run | ratio | pass/fail |",
             "|---|---:|---|---|---:|---|"]
    for f in figs:
        for r in lines(f):
            out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in r) + " |")
    return "\n".join(out)


def write_json(doc: dict[str, Any], path: Optional[str] = None) -> str:
    path = path or os.path.join(RESULTS, "latest.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(clean(doc), f, indent=1, default=str, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)
    return path


def clean(o: Any) -> Any:
    """NaN and infinities become null (JSON has neither)."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [clean(v) for v in o]
    return o
