"""`vnet-tui show`: the topology as a table, or as JSON (CLI.md)."""

from __future__ import annotations

import argparse
import json

from vnet_tui.commands.common import add_server_options
from vnet_tui.core.server import Server


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "show",
        help="print the topology: host, containers, VMs, each adapter's two ends",
        description="Print the server's virtual network: host interfaces, containers and VMs, "
        "with each adapter's two ends side by side (MACs, IPs, counters).",
    )
    add_server_options(p)
    p.add_argument("--json", action="store_true", help="machine-readable output (see CLI.md)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vnet_tui.discovery.topology import discover

    topo = discover(Server.from_args(args))
    if args.json:
        import sys

        # indented for people at a terminal; compact (C encoder, fast) for scripts
        print(json.dumps(topo.to_json(), indent=1 if sys.stdout.isatty() else None))
        return 0
    from rich.console import Console

    from vnet_tui.core.render import render_topology

    import sys

    # piped output gets room for every column instead of rich's 80
    console = Console() if sys.stdout.isatty() else Console(width=240)
    for table in render_topology(topo):
        console.print(table)
    return 0
