"""The add-adapter form: a veth for a container, a vme (tap) for a VM.

"auto" MACs are drawn once when the form opens, so the preview shows the
very MACs Apply uses.  Addresses are typed space- or comma-separated.
"""

from __future__ import annotations

import re
from typing import Optional

from textual.app import ComposeResult
from textual.widgets import Checkbox, Input, Select

from vnet_tui.core.model import Topology
from vnet_tui.core.server import Server
from vnet_tui.ops import macs
from vnet_tui.ops.facts import ServerFacts
from vnet_tui.ops.plan import Plan
from vnet_tui.ops.requests import AddRequest
from vnet_tui.txn import api
from vnet_tui.txn.api import Result

from .base import ChangeForm, field


def words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s,]+", text.strip()) if w]


class AddAdapterScreen(ChangeForm):
    """Add an adapter to a container or VM, previewed as you type."""

    apply_label = "Add adapter"

    def __init__(self, server: Server, topology: Topology, target: Optional[str] = None) -> None:
        super().__init__(server, topology, "Add an adapter")
        self.targets = [c.name for c in topology.containers] + [v.name for v in topology.vms]
        self.vms = {v.name for v in topology.vms}
        self.target = target if target in self.targets else (self.targets[0] if self.targets else None)
        taken = ServerFacts(topology).macs()
        self.auto_mac = macs.guest_mac(taken)
        self.auto_host_mac = macs.host_mac({**taken, self.auto_mac: "guest"})
        bridges = [i.ifname for i in topology.host.interfaces if i.kind == "bridge"]
        self.bridges = bridges

    def compose_fields(self) -> ComposeResult:
        yield field(
            "container / VM",
            Select(
                [(t, t) for t in self.targets],
                value=self.target or Select.BLANK,
                id="add-target",
                allow_blank=False if self.targets else True,
            ),
        )
        yield field("guest ifname", Input(placeholder="automatic: the next free ethN", id="add-ifname"))
        yield field("host ifname", Input(placeholder="automatic", id="add-host-ifname"))
        yield field("guest MAC", Input(value="auto", id="add-mac"))
        yield field("host MAC", Input(value="auto", id="add-host-mac"))
        yield field("IP addresses", Input(placeholder="198.18.5.1/16 fd00:5654::5/64", id="add-ips"))
        yield field("MTU", Input(placeholder="1500", id="add-mtu"))
        yield field(
            "bridge",
            Select(
                [("(none)", "")] + [(b, b) for b in self.bridges],
                value=self.bridges[0] if self.bridges else "",
                id="add-bridge",
                allow_blank=False,
            ),
        )
        yield Checkbox("routed (host routes + proxy ARP/NDP instead of a bridge)", id="add-routed", compact=True)

    def fields_changed(self) -> None:
        """A VM names its NICs and sets its addresses itself: those fields are for containers only."""
        target = self.query_one("#add-target", Select).value
        vm = target in self.vms
        for fid in ("add-ifname", "add-ips"):
            row = self.query_one(f"#{fid}", Input).parent
            if row is not None and row.display == vm:
                row.display = not vm
        routed = self.query_one("#add-routed", Checkbox)
        if routed.display == vm:
            routed.display = not vm
        self.query_one("#add-host-ifname", Input).placeholder = (
            "automatic: vme<hex>.<N>" if vm else "automatic: veth<CTID>.<N>")

    def request(self) -> AddRequest:
        v = lambda i: self.query_one(f"#{i}", Input).value.strip()  # noqa: E731
        target = self.query_one("#add-target", Select).value
        mac, host_mac = v("add-mac") or "auto", v("add-host-mac") or "auto"
        mtu_text = v("add-mtu")
        vm = target in self.vms
        routed = self.query_one("#add-routed", Checkbox).value and not vm
        bridge = self.query_one("#add-bridge", Select).value or None
        return AddRequest(
            target=str(target) if target not in (None, Select.BLANK) else "",
            ifname=None if vm else v("add-ifname") or None,
            host_ifname=v("add-host-ifname") or None,
            mac=self.auto_mac if mac == "auto" else mac,
            host_mac=self.auto_host_mac if host_mac == "auto" else host_mac,
            ips=[] if vm else words(v("add-ips")),
            mtu=mtu(mtu_text),
            bridge=None if routed else str(bridge) if bridge else None,
            routed=routed,
        )

    def plan(self) -> Plan:
        return api.plan_add(self.server, self.topology, self.request())

    def apply_change(self, request: AddRequest, confirm: bool, timeout: float) -> Result:
        return api.add(self.server, request, confirm=confirm, confirm_timeout=timeout)


def mtu(text: str) -> Optional[int]:
    """The MTU field: empty is the default; anything else must be a number (rule mtu)."""
    if not text:
        return None
    if not text.isdigit():
        from vnet_tui.core.errors import InvalidInput

        raise InvalidInput(f"MTU {text!r}: a number, e.g. 1500", rule="mtu")
    return int(text)
