"""`vnet-tui demo`: lab "demo" with moving counters, and the TUI on it.

A demo knows whose lab it is.  When lab "demo" is already up (another
operator's demo, or `lab up demo`), it attaches: the TUI opens on that
lab, no traffic of its own is started, and the lab is left up on quit.
With ``--own`` — or when "demo" exists but is not usable (still being
built, or a broken leftover) — it builds a lab of its own under the next
free name (demo2, demo3, …).  Only a lab this demo built is taken down,
and only while it is still the same instance (registry.instance_id): a
lab someone rebuilt under the same name in the meantime is theirs.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Optional

from vnet_tui.commands.lab import boot_guests, guest_boot_or_fail
from vnet_tui.core.errors import InvalidInput

DEMO = "demo"
MAX_OWN = 9  # demo2 … demo9


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="build lab 'demo' (if absent), make some traffic in it and open the TUI on it",
        description="Build lab 'demo' (containers and VMs in namespaces, nothing touches this "
        "server's own network; the VMs boot a minimal guest), start a small UDP exchange between its "
        "containers so the counters move, and open the TUI. Select an adapter and press p for its "
        "pair view, then t to send frames through it. The lab is removed on exit unless --keep. "
        "When lab 'demo' is already up (someone else's demo), the TUI attaches to it and leaves it "
        "up on exit; --own builds a lab of this demo's own instead (demo2, demo3, ...).",
    )
    p.add_argument("--containers", type=int, default=3, metavar="N", help="containers (default 3)")
    p.add_argument("--vms", type=int, default=2, metavar="M", help="VMs (default 2)")
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--keep", action="store_true", help="leave the lab up on exit (remove: vnet-tui lab down demo)")
    p.add_argument("--own", action="store_true",
                   help="when lab 'demo' is already up, build a lab of this demo's own (demo2, ...) "
                        "instead of attaching to it")
    p.add_argument("--boot", action=argparse.BooleanOptionalAction, default=True,
                   help="VMs boot a real minimal guest, so their pairs carry traffic (default); "
                        "--no-boot keeps them paused")
    p.set_defaults(func=run)


@dataclass
class DemoLab:
    """The lab a demo shows, and whether the demo built it (and so may take it down)."""

    name: str
    info: object  # LabInfo
    owned: bool
    instance: Optional[str]
    message: str  # what the operator is told: attached to whose lab, or built which


def _build(name: str, args: argparse.Namespace, note: str = "") -> DemoLab:
    from vnet_tui.lab import up  # deferred: loads when the verb runs, not at CLI start

    boot = guest_boot_or_fail(args.vms, getattr(args, "boot", True))
    print(f"building lab {name}{note}: {args.containers} containers, {args.vms} VMs…", file=sys.stderr)
    info = up(name, containers=args.containers, vms=args.vms, seed=args.seed, boot=boot)
    for w in info.warnings:
        print(f"vnet-tui: warning: {w}", file=sys.stderr)
    boot_guests(info)  # their agents answer before the TUI opens: p, t on a VM works at once
    return DemoLab(name, info, True, info.instance or None,
                   f"lab {name} built for this demo{note}; removed on exit unless --keep")


def _own_name(base: str) -> str:
    from vnet_tui.lab import exists  # deferred: loads when the verb runs, not at CLI start

    for n in range(2, MAX_OWN + 1):
        name = f"{base}{n}"
        if len(name) <= 8 and not exists(name):
            return name
    raise InvalidInput(f"labs {base}2 … {base}{MAX_OWN} all exist; take one down (vnet-tui lab down NAME)",
                       rule="lab-exists")


def prepare(args: argparse.Namespace, base: str = DEMO) -> DemoLab:
    """Attach to lab ``base`` when it is up, else build it (or a lab of our own, see the module doc)."""
    from vnet_tui.lab import exists, load, registry  # deferred: loads when the verb runs, not at CLI start

    own = bool(getattr(args, "own", False))
    for _ in range(3):  # another demo may build or remove "demo" at the same moment: look again
        info = load(base) if exists(base) else None
        if info is not None:
            if own:
                name = _own_name(base)
                return _build(name, args, f" (lab {base} is up and is not this demo's)")
            return DemoLab(base, info, False, registry.instance_id(base),
                           f"attached to lab {base}, which this demo did not build: it stays up on exit "
                           f"(vnet-tui demo --own builds a lab of its own)")
        if exists(base):  # being built by someone, or a broken leftover: never ours to remove
            name = _own_name(base)
            return _build(name, args, f" (lab {base} exists but is not up)")
        try:
            return _build(base, args)
        except InvalidInput as e:
            if e.rule != "lab-exists":
                raise
            # built by another demo between our look and our claim: look again
    raise InvalidInput(f"lab {base} keeps appearing and disappearing; try again", rule="lab-exists")


def finish(lab: DemoLab, keep: bool) -> str:
    """Take the demo's lab down if this demo built it (and it is still that instance); what was done."""
    from vnet_tui.lab import down, exists, registry  # deferred: loads when the verb runs, not at CLI start

    if not lab.owned:
        return f"lab {lab.name} left up: this demo attached to it and did not build it"
    if keep:
        return f"lab {lab.name} left up: vnet-tui --lab {lab.name}; remove it: vnet-tui lab down {lab.name}"
    now = registry.instance_id(lab.name)
    if lab.instance and now != lab.instance:
        if now is None and not exists(lab.name):
            return f"lab {lab.name} was already removed"
        return f"lab {lab.name} left up: it was rebuilt by someone else while this demo ran"
    down(lab.name)
    return f"lab {lab.name} removed (use --keep to leave it up)"


def run(args: argparse.Namespace) -> int:
    from vnet_tui.demo.traffic import Traffic  # deferred: loads when the verb runs, not at CLI start
    from vnet_tui.ui.launch import run_tui  # deferred: Textual loads only when the TUI opens

    lab = prepare(args)
    print(f"vnet-tui demo: {lab.message}", file=sys.stderr)
    traffic = Traffic(lab.info) if lab.owned else None  # someone else's lab: their traffic, not ours
    try:
        if traffic is not None:
            traffic.start()
        tui_args = argparse.Namespace(lab=lab.name, interval=getattr(args, "interval", 1.0),
                                      read_only=getattr(args, "read_only", False), notice=lab.message)
        return run_tui(tui_args)
    finally:
        if traffic is not None:
            traffic.stop()
        print(f"vnet-tui demo: {finish(lab, args.keep)}", file=sys.stderr)
