"""The UI's palette lives in .tcss: no Rich style strings or markup in vnet_tui/ui's Python.

Widgets style their parts with component classes (``get_component_rich_style``); text built
outside a render (rows, cells, the detail's words, forms, the pair view) takes its styles from
``ui/looks.py``'s ``LOOKS``, read from the ``looks--`` classes in app.tcss.  This test greps for
the ways a style used to be written in Python so that none comes back.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

UI = Path(__file__).resolve().parents[2] / "vnet_tui" / "ui"

_WORD = (r"(?:bold|dim|italic|underline|reverse|strike|blink|red|green|yellow|blue|magenta|cyan|white|"
         r"black|bright_\w+|gr[ae]y\d*|#[0-9a-fA-F]{6}|rgb\([^)]*\)|color\(\d+\))")
_STYLE = rf'"{_WORD}(?: (?:(?:on|not) )?{_WORD})*"'
PATTERNS = {
    "style= keyword": re.compile(rf"\bstyle\s*=\s*{_STYLE}"),
    "positional style (append, assemble, safe)": re.compile(rf",\s*{_STYLE}\s*\)"),
    "conditional style": re.compile(rf"\b(?:if|else)\s+{_STYLE}"),
    "console markup": re.compile(r"[\"'\s\]]\[/?(?:b|i|u|(?:bold|dim|italic|underline|reverse|red|green|yellow|blue|"
                                 r"magenta|cyan|white)(?: [^\]]*)?)\]"),
    "Style() from literals": re.compile(r"\bStyle\s*\(\s*(?:color|bgcolor|bold|dim|italic|underline|reverse)\s*="),
    "Style.parse / from_markup": re.compile(r"\bStyle\.parse\(|\.from_markup\("),
    "style constant": re.compile(rf"^\s*[A-Z][A-Z_0-9]*(?:\s*,\s*[A-Z][A-Z_0-9]*)*\s*=\s*(?:\(\s*)?{_STYLE}"),
}

# Lines allowed to keep a style string, by file and exact text (stripped), each with a comment
# saying why.  None today: add one only for a style that cannot come from .tcss.
ALLOWED: dict[str, set[str]] = {}


def style_strings(text: str) -> list[tuple[int, str, str]]:
    """(line number, pattern name, line) for each line of Python that writes a style in words."""
    found = []
    for n, line in enumerate(text.splitlines(), 1):
        for name, rx in PATTERNS.items():
            if rx.search(line):
                found.append((n, name, line.strip()))
                break
    return found


@pytest.mark.parametrize("line", [
    't.append("x", style="bold cyan")',
    'Text("gone", style="red")',
    'Text.assemble(("✗ ", "bold red"), "y")',
    't.append("$ ", "dim")',
    'style="red" if errs else "dim"',
    'x = "dim" if idle else "bold"',
    'Static("[b]vnet-tui[/b] shows")',
    'Text.from_markup("a")',
    'Style(color="red")',
    'Text("x", style="white on red")',
    'NOTE, LABEL = "dim", "bold"',
    'WARN = "bold yellow"',
])
def test_the_patterns_catch_a_style_written_in_words(line: str) -> None:
    assert style_strings(line), line


@pytest.mark.parametrize("line", [
    't.append("x", style=LOOKS.name)',
    'Text(k.tooltip, style=LOOKS.note if soon else "")',
    'label = f"  [{e.rule}]" if e.rule else ""',
    'rows[i] = lines[b]',
    'ifaces = [i for i in c.interfaces if i.kind != "loopback"]',
    'Select([("unchanged", UNCHANGED), ("on", "on"), ("off", "off")])',
    'Binding("d", "delete", "delete")',
])
def test_the_patterns_leave_other_code_alone(line: str) -> None:
    assert not style_strings(line), line


def test_no_rich_style_strings_in_the_ui() -> None:
    files = sorted(UI.rglob("*.py"))
    assert len(files) > 20, "vnet_tui/ui not found where the test looks"
    bad = []
    for path in files:
        rel = path.relative_to(UI).as_posix()
        allowed = ALLOWED.get(rel, set())
        bad += [f"{rel}:{n}: ({why}) {line}" for n, why, line in style_strings(path.read_text()) if line not in allowed]
    assert not bad, "styles belong in .tcss (component classes, or ui/looks.py's LOOKS):\n" + "\n".join(bad)
