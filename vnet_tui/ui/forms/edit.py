"""The edit form: one end of an adapter — MAC, addresses, MTU, up/down, bridge — and its policy.

Fields start at the end's current values; only what differs is asked
for.  A VM's guest end offers only its MAC, by unplug + replug (the form
says why: a guest MAC cannot change live).  Below them, the host end's
policy (cable, rates each way, MAC and IP filters, isolation): a change of
its own — ops refuses it mixed with the fields above (policy-with-edit),
and the form says so in its words.
"""

from __future__ import annotations

from typing import Any, Optional

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Checkbox, Input, Select, Static

from vnet_tui.core.errors import InvalidInput
from vnet_tui.core.model import Interface, Topology
from vnet_tui.core.server import Server
from vnet_tui.core.text import safe as safe_text
from vnet_tui.ops import policy
from vnet_tui.ops.facts import ServerFacts
from vnet_tui.ops.plan import Plan
from vnet_tui.ops.requests import SetRequest
from vnet_tui.txn import api
from vnet_tui.txn.api import Result

from ..looks import LOOKS
from .add import mtu, words
from .base import ChangeForm, field

UNCHANGED, DETACH = "=", "-"
POLICY_INPUTS = (("rate in", "edit-rate-in", "RATE[/BURST] or off: what the guest receives, e.g. 10mbit/64k"),
                 ("rate out", "edit-rate-out", "RATE[/BURST] or off: what the guest sends"),
                 ("MAC filter", "edit-mac-filter", "on (the guest's MAC) · off · a MAC"),
                 ("IP filter", "edit-ip-filter", "on (the guest's IPs) · off · 198.18.5.1,fd00::5"))


class EditAdapterScreen(ChangeForm):
    """Edit the guest or host end of an adapter, previewed as you type."""

    apply_label = "Apply"

    def __init__(
        self, server: Server, topology: Topology, target: str, ifname: str, end: Optional[str] = None
    ) -> None:
        self.target, self.ifname, self.end = target, ifname, end
        self.iface: Optional[Interface] = None
        self.vm_guest = False  # only the guest NIC (end="guest")
        self.vm = False  # a VM adapter: its guest MAC is offered next to the tap's fields
        self.guest_mac: Optional[str] = None
        self.host_ifname: Optional[str] = None  # the end a policy is set on
        try:
            facts = ServerFacts(topology)
            owner = facts.target(target)
            adapter = facts.adapter(owner, ifname)
            self.host_ifname = adapter.host.ifname if adapter.host else None
            if adapter.kind == "vme":
                self.vm = True
                self.guest_mac = adapter.vm_adapter.guest_mac if adapter.vm_adapter else None
            if adapter.kind == "vme" and end == "guest":
                self.vm_guest = True
            elif adapter.kind == "vme":
                self.iface, self.end = adapter.host, "host"
            else:
                by_name = "host" if adapter.host and ifname == adapter.host.ifname else "guest"
                self.end = end or by_name
                self.iface = adapter.guest if self.end == "guest" else adapter.host
        except Exception:  # shown by the preview: plan() raises the same refusal with its rule
            pass
        shown = self.iface.ifname if self.iface else ifname
        super().__init__(server, topology, f"Edit {target}: {shown} ({self.end or 'guest'} end)")
        self.bridges = [i.ifname for i in topology.host.interfaces if i.kind == "bridge"]

    def compose_fields(self) -> ComposeResult:
        i = self.iface
        if self.vm:
            yield Static(
                Text(
                    "A VM's guest MAC cannot change live (the guest owns its NIC): to change it, the NIC is "
                    "unplugged and plugged back with the new MAC. Change it on its own, not with the tap.",
                    style=LOOKS.warn,
                )
            )
            yield field("guest MAC", Input(value=self.guest_mac or "", id="edit-guest-mac"))
            yield Checkbox("unplug + replug with this MAC", id="edit-replug", compact=True)
            if self.vm_guest:
                return
        yield field(
            "MAC" if not self.vm else "tap MAC", Input(value=(i.mac or "") if i else "", id="edit-mac")
        )
        current = " ".join(a for a in (i.addresses if i else []) if not a.startswith("fe80:"))
        yield field("add IPs", Input(placeholder="198.18.5.9/16 …", id="edit-add-ips"))
        yield field(
            "remove IPs",
            Input(placeholder=f"now: {current}" if current else "(none on it)", id="edit-del-ips"),
        )
        yield field("MTU", Input(value=str(i.mtu) if i else "", id="edit-mtu"))
        yield field(
            "state",
            Select(
                [("unchanged", UNCHANGED), ("up", "up"), ("down", "down")],
                value=UNCHANGED,
                id="edit-state",
                allow_blank=False,
            ),
        )
        if self.end == "host":
            options = [("unchanged" + (f" ({i.master})" if i and i.master else ""), UNCHANGED)]
            options += [("detach from its bridge", DETACH)] if i and i.master else []
            options += [(f"attach to {b}", b) for b in self.bridges if not i or b != i.master]
            yield field("bridge", Select(options, value=UNCHANGED, id="edit-bridge", allow_blank=False))
        yield from self.compose_policy()

    def compose_policy(self) -> ComposeResult:
        """The host end's policy: its own change, never with the fields above."""
        yield Static(Text.assemble(("policy", LOOKS.label), (" (host end): its own change, leave the fields "
                                   "above unchanged", LOOKS.note), no_wrap=True, overflow="ellipsis"),
                     classes="form-section")
        shown = getattr(self.app, "policy_words", {}).get(self.host_ifname) if self.host_ifname else None
        if shown:  # as the detail last read it from the kernel
            now = Text("now: ", style=LOOKS.note)
            now.append_text(safe_text(" · ".join(shown), style=LOOKS.words))
            yield Static(now, classes="form-row")
        yield field("cable", Select([("unchanged", UNCHANGED), ("plugged", "plugged"), ("unplugged", "unplugged")],
                                    value=UNCHANGED, id="edit-cable", allow_blank=False))
        for label, wid, hint in POLICY_INPUTS:
            yield field(label, Input(placeholder=hint, id=wid))
        yield field("isolated", Select([("unchanged", UNCHANGED), ("on", "on"), ("off", "off")],
                                       value=UNCHANGED, id="edit-isolated", allow_blank=False))

    def request(self) -> SetRequest:
        v = lambda q: self.query_one(f"#{q}", Input).value.strip()  # noqa: E731
        if self.vm:
            gmac = v("edit-guest-mac")
            guest = SetRequest(
                self.target,
                self.ifname,
                end="guest",
                mac=gmac if gmac.lower() != (self.guest_mac or "") else None,
                replug=self.query_one("#edit-replug", Checkbox).value,
            )
            if self.vm_guest:
                return guest
            if guest.mac or guest.replug:
                tap = self.tap_request(v)
                if any(
                    (
                        tap.mac,
                        tap.add_ips,
                        tap.del_ips,
                        tap.mtu,
                        tap.up is not None,
                        tap.bridge,
                        tap.no_bridge,
                        policy.asked(tap),
                    )
                ):
                    raise InvalidInput(
                        "change the guest MAC (a replug) and the tap's settings separately", rule="vm-one-end"
                    )
                return guest
        return self.tap_request(v)

    def tap_request(self, v: Any) -> SetRequest:
        """The request for the end this form edits (a container end, or a VM's tap)."""
        i = self.iface
        pick = lambda q: self.query_one(f"#{q}", Select).value  # noqa: E731
        policy = {
            "cable": None if pick("edit-cable") == UNCHANGED else str(pick("edit-cable")),
            "rate_in": v("edit-rate-in") or None,
            "rate_out": v("edit-rate-out") or None,
            "mac_filter": v("edit-mac-filter") or None,
            "ip_filter": v("edit-ip-filter") or None,
            "isolated": None if pick("edit-isolated") == UNCHANGED else str(pick("edit-isolated")),
        }
        mac = v("edit-mac")
        new_mtu = mtu(v("edit-mtu"))
        state = self.query_one("#edit-state", Select).value
        bridge = self.query_one("#edit-bridge", Select).value if self.end == "host" else UNCHANGED
        return SetRequest(
            self.target,
            i.ifname if i else self.ifname,
            end=self.end,
            mac=mac if i and mac and mac.lower() != (i.mac or "") else None,
            add_ips=words(v("edit-add-ips")),
            del_ips=words(v("edit-del-ips")),
            mtu=new_mtu if i and new_mtu != i.mtu else None,
            up=None if state == UNCHANGED else state == "up",
            bridge=str(bridge) if bridge not in (UNCHANGED, DETACH) else None,
            no_bridge=bridge == DETACH,
            **policy,
        )

    def plan(self) -> Plan:
        return api.plan_edit(self.server, self.topology, self.request())

    def guarded_name(self) -> str:
        return self.iface.ifname if self.iface else self.ifname

    def apply_change(self, request: SetRequest, confirm: bool, timeout: float) -> Result:
        return api.edit_adapter(self.server, request, confirm=confirm, confirm_timeout=timeout)
