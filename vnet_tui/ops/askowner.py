"""Asking a container's or VM's owner: its module in ``vnet_tui.owners``, and its record read anew."""

from __future__ import annotations

import importlib
from typing import Any, Optional

from vnet_tui.owners.registry import scan_all


def _module(runtime: str) -> Any:
    return importlib.import_module(f"vnet_tui.owners.{runtime}")


def _again(t: Any) -> Optional[Any]:
    """The owner's record of ``t`` as it is now (asked anew), or None."""
    assert t.owner is not None
    for rec in scan_all(only=(t.runtime,)).records:
        if rec.id == t.owner.id:
            return rec
    return None
