"""Fixtures the journal's unit tests share."""

from __future__ import annotations

import pytest

from vnet_tui.safety import journalread


@pytest.fixture()
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every journal line the readers parse, in order."""
    seen: list[bytes] = []
    real = journalread.parse_line

    def counting(raw: bytes):
        seen.append(raw)
        return real(raw)

    monkeypatch.setattr(journalread, "parse_line", counting)
    return seen
