"""Fixtures for UI tests that need a real lab (marked live)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Iterator

import pytest

from tests.helpers import unique


@pytest.fixture(scope="module")
def lab_info() -> Iterator[Any]:
    """A lab with 3 containers and 1 VM for the module; always taken down."""
    from vnet_tui.lab import lab

    with lab(unique("u"), containers=3, vms=1, seed=11) as info:
        yield info


def show_json(lab_name: str) -> dict[str, Any]:
    """What `vnet-tui show --lab NAME --json` prints."""
    r = subprocess.run([sys.executable, "-m", "vnet_tui", "show", "--lab", lab_name, "--json"],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)
