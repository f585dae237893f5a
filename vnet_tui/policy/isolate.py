"""Port isolation and no promiscuous receive, with the bridge's own port flags.

``isolated(on)``: an isolated port forwards only to non-isolated ports
(``bridge link set dev X isolated on``), and by default the bridge stops
flooding unknown unicast to it (``flood off``), so the guest receives
only what is addressed to it, broadcasts and multicasts.
"""

from __future__ import annotations

from typing import Any, Optional

from vnet_tui.core.errors import InvalidInput

from . import probe
from .port import Port
from .read import read
from .steps import Step


def _flags(isolated: bool, flood: bool) -> Any:
    def act(p: Port) -> None:
        p.change(f"brport_set {p.ifname}",
                 lambda: p.ipr.brport("set", index=p.index, isolated=int(isolated), unicast_flood=int(flood)))
    return act


def _text(port: Port, isolated: bool, flood: bool) -> str:
    return port.cmd("bridge", "link", "set", "dev", port.ifname, "isolated", "on" if isolated else "off",
                    "flood", "on" if flood else "off")


def isolated(port: Port, on: bool, current: Optional[dict[str, Any]] = None,
             flood: Optional[bool] = None) -> list[Step]:
    """Isolate the bridge port (``on``) or not; ``flood`` (unknown-unicast flooding) defaults to ``not on``."""
    probe.require("bridge")
    cur = current or read(port)
    bp = cur["bridge_port"]
    if bp is None:
        raise InvalidInput(f"{port.ifname} is not on a bridge: isolation is a bridge port's setting "
                           "(a routed adapter is isolated already)", rule="isolated-not-bridge-port")
    want = (bool(on), (not on) if flood is None else bool(flood))
    before = (bp["isolated"], bp["unicast_flood"])
    if want == before:
        return []
    return [Step("isolated", _text(port, *want), _flags(*want), _flags(*before), _text(port, *before))]
