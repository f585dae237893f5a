"""The rows of the three panes and their cells (rich only; styles: looks.py); rowbuild.py makes them.

Every row knows which end's counters its rate columns show (``end``),
both ends of its adapter for the detail view, and a lower-case haystack
for the filter.  Every name that came from the system is rendered with
``core.text.safe``: shown literally, with visible escapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from rich.style import Style
from rich.text import Text

from vnet_tui.core.model import VM, Interface, VMNic
from vnet_tui.core.text import natural_key, safe  # noqa: F401 (natural_key: the rows' order, re-used by rowbuild)
from vnet_tui.live.feed import EndKey
from vnet_tui.net.netns import NOT_VISIBLE

from .looks import LOOKS


class SortText(Text):
    """A cell that also carries the value it sorts by."""

    def __init__(self, text: str = "", style: "str | Style" = "", sort: object = 0, **kw: object) -> None:
        super().__init__(text, style=style, **kw)  # type: ignore[arg-type]
        self.sort_value = sort


@dataclass
class End:
    """One end of an adapter, as the detail view shows it."""

    role: str  # "guest end" | "host end" | "interface"
    owner: str  # container or VM name, or the server's label
    netns: str  # where it lives, for people
    iface: Optional[Interface] = None
    key: Optional[EndKey] = None
    vm: Optional[VM] = None
    vm_adapter: Optional[VMNic] = None
    at_tap: bool = False  # a VM's NIC: counted at its host tap (key), seen from the guest
    guest_addrs: Optional[tuple[str, ...]] = None  # a lab VM's NIC: what its guest agent reports (None: not asked)


@dataclass
class Row:
    """One row of a pane."""

    key: str
    cells: dict[str, Text]
    name: str  # what the row is called (owner/ifname), for the palette and sorting
    end: Optional[EndKey] = None  # whose counters the rate columns show
    swap: bool = False  # a VM row shows its tap's counters from the guest's side
    guest: Optional[End] = None
    host: Optional[End] = None
    haystack: str = ""
    natural: tuple = field(default_factory=tuple)


def state_text(state: str) -> Text:
    return Text(state, style=LOOKS.of_state(state))


def addresses(i: Optional[Interface]) -> list[str]:
    """Addresses worth showing: link-local IPv6 left out."""
    return [a for a in i.addresses if not a.startswith("fe80:")] if i else []


def addr_text(i: Optional[Interface]) -> Text:
    return addr_list_text(addresses(i))


def addr_list_text(shown: "list[str] | tuple[str, ...]") -> Text:
    """The first address, and how many more ("198.18.0.2/16 +2")."""
    if not shown:
        return Text("")
    t = Text(shown[0])
    if len(shown) > 1:
        t.append(f" +{len(shown) - 1}", style=LOOKS.more)
    return t


def peer_text(i: Interface) -> Text:
    p = i.peer
    if p is None:
        return Text("")
    if p.kind == "vm":
        return safe(f"{p.owner}:{p.adapter}", style=LOOKS.peer_vm)
    if p.kind == "container":
        if p.ifname is None:  # its namespace may not be entered (live/structure.py marks it)
            return safe(f"{p.owner}: {NOT_VISIBLE}", style=LOOKS.peer_hidden)
        return safe(f"{p.owner}:{p.ifname}", style=LOOKS.peer_container)
    return safe(f"host:{p.ifname}")


def _hay(*parts: object) -> str:
    """Lower-case words to filter on (raw: escapes are for display only)."""
    return " ".join([str(p) for p in parts if p]).lower()


def _iface_hay(i: Optional[Interface]) -> str:
    if i is None:
        return ""
    peer = i.peer
    return _hay(i.ifname, i.mac, i.alias, i.state, i.master, *i.addresses, peer and peer.owner,
                peer and peer.ifname, peer and peer.mac)


def matches(row: Row, query: str) -> bool:
    """Every word of the filter appears in the row: any column it shows (names, states, MACs, IPs,
    bridge, container or VM) and the other end's facts."""
    return all(w in row.haystack for w in query.lower().split())
