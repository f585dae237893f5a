"""The cable: plugged or pulled, as the guest sees it (carrier), distinct from its own admin state.

Container (veth): a veth end has carrier only while its peer is up, so
setting the *host* end administratively down is what the guest sees as
a pulled cable (``NO-CARRIER``, operstate ``LOWERLAYERDOWN``/``DOWN``),
while the guest end stays admin up and keeps its configuration.

Lab VM (tap): the tap's state says nothing to the guest; QEMU's
``set_link`` on the NIC's netdev does (the guest's driver reports link
down).  ``qmp_cable`` talks to a lab's own QMP socket only.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from vnet_tui.core.errors import InvalidInput, NotPermitted
from vnet_tui.discovery.owned import qmp_is_ours
from vnet_tui.discovery.qmp import QMP
from vnet_tui.net.faults import qmp_call

from .port import Port
from .read import read
from .steps import Step


def cable(port: Port, up: bool, current: Optional[dict[str, Any]] = None) -> list[Step]:
    """Plug (``up``) or pull the cable of a container adapter, at its host end; [] when already so."""
    cur = current or read(port)
    if cur["kind"] != "veth":
        raise InvalidInput(f"{port.ifname} is a {cur['kind'] or 'device'}: its guest sees no carrier change from "
                           "the host end; a VM's cable is plugged through QMP (set_link)", rule="cable-needs-qmp")
    was = bool(cur["link"]["admin_up"])
    if was == up:
        return []

    def setter(state: bool) -> Any:
        def act(p: Port) -> None:
            p.change(f"link_set {p.ifname} {'up' if state else 'down'}",
                     lambda: p.ipr.link("set", index=p.index, state="up" if state else "down"))
        return act

    word = "up" if up else "down"
    back = "up" if was else "down"
    return [Step("cable", port.cmd("ip", "link", "set", "dev", port.ifname, word), setter(up), setter(was),
                 port.cmd("ip", "link", "set", "dev", port.ifname, back))]


def qmp_command(netdev: str, up: bool) -> str:
    return json.dumps({"execute": "set_link", "arguments": {"name": netdev, "up": up}})


def qmp_cable(qmp_path: str, netdev: str, up: bool, was_up: Optional[bool] = None,
              timeout: float = 2.0) -> Step:
    """A lab VM's cable through its QMP socket (``set_link NAME up|down``); the port argument is unused.

    ``netdev``: the NIC's netdev or device id (``net0``).  ``was_up``: the
    state to go back to (QMP has no query for it; default: the opposite).
    Only a lab's own socket is accepted (``qmp-not-ours``).
    """
    if not qmp_is_ours(qmp_path):
        raise NotPermitted(f"{qmp_path} is not a vnet-tui lab's QMP socket: another manager owns that VM "
                           "(use its own tools, e.g. virsh domif-setlink)", rule="qmp-not-ours")
    back = (not up) if was_up is None else was_up

    def setter(state: bool) -> Any:
        def act(_p: Optional[Port]) -> None:
            with QMP(qmp_path, timeout=timeout) as q:
                qmp_call(q, "set_link", name=netdev, up=state)
        return act

    return Step("cable", f"qmp {qmp_path} {qmp_command(netdev, up)}", setter(up), setter(back),
                f"qmp {qmp_path} {qmp_command(netdev, back)}")
