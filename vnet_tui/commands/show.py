"""`vnet-tui show`: the topology as tables, or as JSON (CLI.md).

The tables fit the terminal: each column has a priority, and the least
needed columns are left out (never squeezed to nothing) until the rest
fit; the names, states and the two ends of each adapter stay.  A cell
with several addresses holds one a line.  Piped output gets room for
every column.  ``--json`` is the contract; the tables are for people.
"""

from __future__ import annotations

import argparse
import gc
import sys
from typing import Any

from vnet_tui.commands.common import add_server_options
from vnet_tui.core.forked import FAILED, Forked
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
    p.set_defaults(func=run, exit_at_once=True)  # (cli._exit_now)


def add_policies(server: Server, data: dict, got: Any = FAILED) -> None:
    """Each adapter's host end gets ``policy``: what the kernel has on that port (vnet_tui/policy/read.py),
    whoever set it; left out where it cannot be read (no privilege, no nftables).  ``got``: the
    policies read already (``read_adapter_ports``, by a child while discovery ran); the ends it
    lacks are read here."""
    ends = [i for i in data["host"]["interfaces"]
            if i.get("peer") and i["peer"].get("kind") in ("container", "vm")]
    if not ends:
        return
    if got is FAILED:
        got = {}
    missing = [i["ifname"] for i in ends if i["ifname"] not in got]
    if missing:
        try:
            from vnet_tui.policy.read import read_many  # deferred: loads when the verb runs, not at CLI start

            got = {**got, **read_many(server.host_netns, missing)}
        except Exception:
            pass
    for i in ends:
        if i["ifname"] in got:
            i["policy"] = got[i["ifname"]]


def _adapter_policies(server: Server, links: dict[int, bytes]) -> dict[str, Any]:
    """Every port's policy that may be an adapter's (the child's work in ``run``), from the host's link
    messages discovery read; empty if they cannot be read."""
    try:
        from vnet_tui.policy.read import read_adapter_ports

        return read_adapter_ports(server.host_netns, links)
    except Exception:
        return {}


def run(args: argparse.Namespace) -> int:
    server = Server.from_args(args)
    # one-shot: what it makes lives until it prints; the cyclic GC walking every object again and
    # again cost 0.5 s of 5 at 5,000 containers
    gc.disable()
    # the runtimes' scan (every process's stat: 0.3-0.4 s at 5,000 containers) in a second process
    # from the start, while this one reads the host and finds the namespaces (core/forked.py)
    with Forked(_owners) as owners:
        return _show(args, server, owners.result)


def _owners() -> Any:
    from vnet_tui.owners.registry import scan_all

    return scan_all()


def _show(args: argparse.Namespace, server: Server, owners_ahead: Any) -> int:
    from vnet_tui.discovery.topology import discover  # deferred: loads when the verb runs, not at CLI start

    if args.json:
        from vnet_tui.core.text import dumps  # deferred: rich, not at CLI start

        # once the host's links are read, a second process reads the ports' policies from them while
        # this one finds the containers (one thread here: core/forked.py), which two processes read
        # (discovery/split.py)
        child: list[Forked] = []

        def start_policies(host: Any) -> None:
            links = host.raw_links
            child.append(Forked(lambda: _adapter_policies(server, links)))

        try:
            topo = discover(server, split=True, on_host=start_policies, owners_ahead=owners_ahead)
            got = child[0].result() if child else FAILED

            def host() -> dict:
                data = {"host": topo.host.to_json()}
                add_policies(server, data, got)
                return data["host"]

            if sys.stdout.isatty():  # indented for people at a terminal
                data = topo.to_json()
                data["host"] = host()
                text = dumps(data, indent=1)
            else:  # compact (C encoder, fast) for scripts; the host's half of it by a child meanwhile
                from vnet_tui.core.jsonsplit import dumps_split

                text = dumps_split({"host": host, "containers": lambda: [c.to_json() for c in topo.containers],
                                    "vms": lambda: [v.to_json() for v in topo.vms]}, in_child=("host",))
        finally:
            for c in child:
                c.close()
        print(text)
        return 0
    topo = discover(server, split=True, owners_ahead=owners_ahead)
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
