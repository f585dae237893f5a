"""`vnet-tui demo`: lab "demo" with moving counters, and the TUI on it."""

from __future__ import annotations

import argparse
import sys

DEMO = "demo"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="build lab 'demo' (if absent), make some traffic in it and open the TUI on it",
        description="Build lab 'demo' (containers and VMs in namespaces, nothing touches this "
        "server's own network; the VMs boot a minimal guest), start a small UDP exchange between its "
        "containers so the counters move, and open the TUI. Select an adapter and press p for its "
        "pair view, then t to send frames through it. The lab is removed on exit unless --keep.",
    )
    p.add_argument("--containers", type=int, default=3, metavar="N", help="containers (default 3)")
    p.add_argument("--vms", type=int, default=2, metavar="M", help="VMs (default 2)")
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--keep", action="store_true", help="leave the lab up on exit (remove: vnet-tui lab down demo)")
    p.add_argument("--boot", action=argparse.BooleanOptionalAction, default=True,
                   help="VMs boot a real minimal guest, so their pairs carry traffic (default); "
                        "--no-boot keeps them paused")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vnet_tui.demo.traffic import Traffic
    from vnet_tui.lab import down, exists, load, up
    from vnet_tui.ui.launch import run_tui

    info = load(DEMO) if exists(DEMO) else None
    if info is None and exists(DEMO):  # a broken leftover: start afresh
        down(DEMO)
    if info is None:
        from vnet_tui.commands.lab import boot_guests, guest_boot_or_fail

        boot = guest_boot_or_fail(args.vms, getattr(args, "boot", True))
        print(f"building lab {DEMO}: {args.containers} containers, {args.vms} VMs…", file=sys.stderr)
        info = up(DEMO, containers=args.containers, vms=args.vms, seed=args.seed, boot=boot)
        for w in info.warnings:
            print(f"vnet-tui: warning: {w}", file=sys.stderr)
        boot_guests(info)  # their agents answer before the TUI opens: p, t on a VM works at once
    traffic = Traffic(info)
    try:
        traffic.start()
        tui_args = argparse.Namespace(lab=DEMO, interval=getattr(args, "interval", 1.0),
                                      read_only=getattr(args, "read_only", False))
        return run_tui(tui_args)
    finally:
        traffic.stop()
        if not args.keep:
            down(DEMO)
            print(f"lab {DEMO} removed (use --keep to leave it up)", file=sys.stderr)
        else:
            print(f"lab {DEMO} left up: vnet-tui --lab {DEMO}; remove it: vnet-tui lab down {DEMO}",
                  file=sys.stderr)
