"""A form speaks in its own words: the refusals of ops/ name CLI flags, a form names its fields.

``form_message`` turns a refusal into what the operator reads next to
the fields ("tick “unplug + replug”", not "use --replug"); ``field_of``
says which field a rule is about, so that field is marked; ``error_text``
and ``preview_text`` write a refusal and a plan's commands for the form.
"""

from __future__ import annotations

import re
from typing import Optional

from rich.text import Text

from vnet_tui.core.errors import VnetError
from vnet_tui.core.text import safe as safe_text
from vnet_tui.ops.plan import Plan

from ..looks import LOOKS

# rules whose message is about the command line as a whole: said again for a form
BY_RULE = {
    "nothing-to-change": "Nothing to change yet: edit a field to see the commands it runs.",
    "vm-ip": "A VM's addresses are set inside the guest, not here.",
    "vm-ifname": "A VM names its NICs itself: leave the guest ifname empty.",
    "vm-routed": "Routed is for containers: put a VM adapter on a bridge.",
    "routed-needs-ip": "Routed needs at least one IP address to route to the container.",
    "bridge-or-routed": "Choose a bridge or routed, not both.",
    "bridge-or-nobridge": "Choose one bridge change.",
    "policy-with-edit": "The policy is a change of its own: leave the fields above as they were, "
                        "or apply those first.",
    "policy-cable": "“cable”: plugged or unplugged.",
}

# a flag in a message → the field's label (longest first when replacing)
FLAGS = {
    "--up/--down": "“state”",
    "--bridge/--no-bridge": "“bridge”",
    "--bridge BR": "a bridge",
    "--no-bridge": "“detach from its bridge”",
    "--bridge": "“bridge”",
    "--routed": "“routed”",
    "--replug": "“unplug + replug”",
    "--host-mac": "“host MAC”",
    "--mac": "“MAC”",
    "--add-ip": "“add IPs”",
    "--del-ip": "“remove IPs”",
    "--ip": "“IP addresses”",
    "--mtu": "“MTU”",
    "--ifname": "“guest ifname”",
    "--host-ifname": "“host ifname”",
    "--end": "the end",
    "--confirm": "typed confirmation",
    "--rate-in": "“rate in”",
    "--rate-out": "“rate out”",
    "--mac-filter": "“MAC filter”",
    "--ip-filter": "“IP filter”",
    "--isolated": "“isolated”",
    "--cable": "“cable”",
}
_FLAG = re.compile("|".join(re.escape(f) for f in sorted(FLAGS, key=len, reverse=True)) + r"(?![\w-])")
_USE = re.compile(r"\b[Uu]se (“[^”]+”)")


def form_message(rule: Optional[str], message: str) -> str:
    """The refusal in the form's words."""
    if rule in BY_RULE:
        return BY_RULE[rule]
    out = _FLAG.sub(lambda m: FLAGS[m.group(0)], message)
    return _USE.sub(lambda m: ("Tick " if m.group(0)[0] == "U" else "tick ") + m.group(1) + " to", out) \
        .replace(" to to ", " to ")


# rule (or its prefix) → the field it is about, by the field's id suffix (add-mac, edit-mtu, …)
FIELDS = [
    ("mac-", "mac"), ("vm-guest-mac", "guest-mac"), ("ip", "ips"), ("routed-needs-ip", "ips"),
    ("vm-ip", "ips"), ("mtu", "mtu"), ("ifname", "ifname"), ("vm-ifname", "ifname"), ("bridge", "bridge"),
    ("target", "target"), ("policy-mac", "mac-filter"), ("ip-filter", "ip-filter"), ("rate-in", "rate-in"), ("rate-out", "rate-out"),
]


def field_of(rule: Optional[str]) -> Optional[str]:
    """The field suffix a rule is about (None: the form as a whole)."""
    if not rule:
        return None
    best: Optional[tuple[int, str]] = None
    for prefix, suffix in FIELDS:
        if rule.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), suffix)
    return best[1] if best else None


def error_text(e: BaseException, label: str = "") -> Text:
    """A refusal in the form's words, with the field it is about and its rule."""
    if isinstance(e, VnetError):
        return Text.assemble(
            ("✗ ", LOOKS.alarm), (f"{label}: " if label else "", LOOKS.label), safe_text(form_message(e.rule, str(e))),
            (f"  [{e.rule}]" if e.rule else "", LOOKS.note)
        )
    return Text.assemble(("✗ ", LOOKS.alarm), safe_text(f"{type(e).__name__}: {e}"))


def preview_text(plan: Plan) -> Text:
    t = Text()
    for c in plan.commands():
        t.append("$ ", LOOKS.note)
        t.append_text(safe_text(c))
        t.append("\n")
    for w in plan.warnings:
        t.append("⚠ ", LOOKS.warn)
        t.append_text(safe_text(w))
        t.append("\n")
    return t
