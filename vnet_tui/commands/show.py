"""`vnet-tui show`: the topology as tables, or as JSON (CLI.md).

The tables fit the terminal: each column has a priority, and the least
needed columns are left out (never squeezed to nothing) until the rest
fit; the names, states and the two ends of each adapter stay.  A cell
with several addresses holds one a line.  Piped output gets room for
every column.  ``--json`` is the contract; the tables are for people.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from vnet_tui.commands.common import add_server_options
from vnet_tui.core.server import Server


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "show",
        help="print the topology: host, containers, VMs, each adapter's two ends",
        description="Print the server's virtual network: host interfaces, containers and VMs (runtime, state), "
        "and each adapter's two ends side by side (MACs, IPs, counters). Columns that do not fit the "
        "terminal are left out; --json has everything.",
    )
    add_server_options(p)
    p.add_argument("--json", action="store_true", help="machine-readable output (the contract in docs/CLI.md)")
    p.set_defaults(func=run)


def add_policies(server: Server, data: dict) -> None:
    """Each adapter's host end gets ``policy``: what the kernel has on that port (vnet_tui/policy/read.py),
    whoever set it; left out where it cannot be read (no privilege, no nftables)."""
    ends = [i for i in data["host"]["interfaces"]
            if i.get("peer") and i["peer"].get("kind") in ("container", "vm")]
    if not ends:
        return
    try:
        from vnet_tui.policy.read import read_many  # deferred: loads when the verb runs, not at CLI start

        got = read_many(server.host_netns, [i["ifname"] for i in ends])
    except Exception:
        return
    for i in ends:
        if i["ifname"] in got:
            i["policy"] = got[i["ifname"]]


def run(args: argparse.Namespace) -> int:
    from vnet_tui.discovery.topology import discover  # deferred: loads when the verb runs, not at CLI start

    server = Server.from_args(args)
    topo = discover(server)
    if args.json:
        from vnet_tui.core.text import dumps  # deferred: rich, not at CLI start

        data = topo.to_json()
        add_policies(server, data)
        # indented for people at a terminal; compact (C encoder, fast) for scripts
        print(dumps(data, indent=1 if sys.stdout.isatty() else None))
        return 0
    from rich.console import Console  # deferred: rich, not at CLI start

    # piped output gets room for every column instead of rich's 80
    console = Console() if sys.stdout.isatty() else Console(width=240)
    for table in tables(topo, console.width):
        console.print(table)
    return 0


def tables(topo: Any, width: int) -> list[Any]:
    """The tables `show` prints, in order, fitted to ``width`` columns (``show_tables``)."""
    from .show_tables import tables as fitted  # deferred: rich, not at CLI start

    return fitted(topo, width)
