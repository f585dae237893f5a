"""`vnet-tui adapter add|set|del|confirm`: change adapters from the command line (CLI.md).

Every change validates first (exit 2, the rule named, nothing changed),
can be shown with ``--dry-run`` as the equivalent ``ip``/QMP commands,
rolls back on failure (exit 1), is journalled (``vnet-tui undo``), and —
when it touches the SSH session's interfaces — needs ``--confirm`` and
runs commit-confirmed: ``vnet-tui adapter confirm [ID]`` within
``--confirm-timeout`` seconds (default 60) or it is reverted.
"""

from __future__ import annotations

import argparse
import json
import time

from vnet_tui.commands.common import add_server_options, plain_doc
from vnet_tui.core.errors import InvalidInput
from vnet_tui.core.server import Server
from vnet_tui.ops.requests import AddRequest, DelRequest, SetRequest


def _common(p: argparse.ArgumentParser) -> None:
    add_server_options(p)
    p.add_argument(
        "--dry-run", action="store_true", help="show the equivalent ip/QMP commands; change nothing"
    )
    p.add_argument("--json", action="store_true", help="machine-readable result or error")
    p.add_argument(
        "--confirm",
        action="store_true",
        help="allow a change to the SSH session's interfaces (runs commit-confirmed)",
    )
    p.add_argument(
        "--confirm-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds before an unconfirmed protected change is reverted (default 60)",
    )


def _owner_options(p: argparse.ArgumentParser, raw_help: str) -> None:
    """How a change goes through the target's owner (docker/podman networks, libvirt)."""
    p.add_argument("--raw", action="store_true", help=raw_help)
    p.add_argument("--persistent", action="store_true",
                   help="libvirt VMs: also change the domain's config, so it lasts across VM restarts")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "adapter",
        help="add, edit or delete an adapter of a container or VM",
        description=plain_doc(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = p.add_subparsers(dest="adapter_verb", metavar="add|set|del|confirm", required=True)

    a = verbs.add_parser("add", help="add a veth (container) or vme (VM) adapter")
    a.add_argument("target", metavar="TARGET", help="container or VM: its name as show prints it, an id or id prefix, a netns name or pid:N")
    a.add_argument("--ifname", help="guest interface name (containers; default: next free ethN)")
    a.add_argument(
        "--host-ifname", metavar="NAME", help="host end name (default veth<CTID>.<N> / vme<hex>.<N>)"
    )
    a.add_argument("--mac", default="auto", help="guest MAC, or auto (c4:37:72:…)")
    a.add_argument("--host-mac", default="auto", help="host end MAC, or auto (fe:…)")
    a.add_argument(
        "--ip", action="append", default=[], metavar="CIDR", help="an address for the guest end (repeat)"
    )
    a.add_argument("--mtu", type=int, metavar="N", help="MTU of both ends (veth 68–65535, tap 68–65521)")
    a.add_argument("--bridge", metavar="BR", help="attach the host end to bridge BR")
    a.add_argument(
        "--routed", action="store_true", help="route the guest's addresses via the host end (proxy ARP/NDP)"
    )
    _owner_options(a, "a plain veth even when BR is one of the container engine's networks "
                      "(default there: docker/podman network connect, which the engine keeps across restarts)")
    _common(a)
    a.set_defaults(func=run_add)

    s = verbs.add_parser("set", help="edit one end of an adapter")
    s.add_argument("target", metavar="TARGET", help="container or VM: its name as show prints it, an id or id prefix, a netns name or pid:N")
    s.add_argument(
        "ifname", metavar="IFNAME", help="guest or host end name; for a VM: adapter id or tap name"
    )
    s.add_argument("--end", choices=("guest", "host"), help="which end (default: the one named IFNAME)")
    s.add_argument("--mac", help="a new MAC for that end (a VM guest NIC's needs --replug)")
    s.add_argument("--add-ip", action="append", default=[], metavar="CIDR", help="add an address (repeat)")
    s.add_argument("--del-ip", action="append", default=[], metavar="CIDR", help="remove an address (repeat)")
    s.add_argument("--mtu", type=int, metavar="N", help="a new MTU for that end")
    s.add_argument("--up", action="store_true", help="bring that end up")
    s.add_argument("--down", action="store_true", help="bring that end down")
    s.add_argument("--bridge", metavar="BR", help="put the host end on bridge BR")
    s.add_argument("--no-bridge", action="store_true", help="take the host end off its bridge")
    s.add_argument(
        "--replug", action="store_true", help="VM guest MAC: unplug and plug back with the new MAC"
    )
    pol = s.add_argument_group(
        "policy on the host end (directions as the guest sees them; each value 'off' clears it)")
    pol.add_argument("--cable", choices=("plugged", "unplugged"),
                     help="pull or plug the cable: the guest sees carrier lost or back (not admin up/down)")
    pol.add_argument("--rate-in", metavar="RATE[/BURST]",
                     help="limit what the guest receives, e.g. 10mbit or 10mbit/64kb (tbf on the host end)")
    pol.add_argument("--rate-out", metavar="RATE[/BURST]",
                     help="limit what the guest sends (an nftables policer at the host end's ingress)")
    pol.add_argument("--mac-filter", metavar="on|off|MAC",
                     help="drop frames from the guest whose source MAC is not its own (on: the guest end's)")
    pol.add_argument("--ip-filter", metavar="on|off|ADDR,…",
                     help="drop IPv4/IPv6/ARP/NDP from the guest with a source outside these (on: its addresses)")
    pol.add_argument("--isolated", choices=("on", "off"),
                     help="bridge port isolation, and no flooding of unknown unicast to the port")
    pol.add_argument("--vlan", metavar="ID|off", help="access VLAN (needs bridge VLAN filtering in the kernel)")
    pol.add_argument("--trunk", metavar="LIST|off", help="tagged VLANs, e.g. 20,30-39 (same need)")
    _common(s)
    s.set_defaults(func=run_set)

    d = verbs.add_parser("del", help="delete an adapter (both ends)")
    d.add_argument("target", metavar="TARGET", help="container or VM: its name as show prints it, an id or id prefix, a netns name or pid:N")
    d.add_argument("ifname", metavar="IFNAME",
                   help="guest or host end name; for a VM: adapter id (net0) or tap name")
    _owner_options(d, "delete the veth itself even when docker/podman made it (default there: network disconnect)")
    _common(d)
    d.set_defaults(func=run_del)

    c = verbs.add_parser("confirm", help="confirm a commit-confirmed change (stops its revert timer)")
    c.add_argument("id", nargs="?", metavar="ID", help="journal id (default: every change waiting)")
    c.add_argument("--list", action="store_true", help="list the changes waiting for confirmation")
    c.add_argument("--json", action="store_true", help="machine-readable result or error")
    c.set_defaults(func=run_confirm)


def _kw(args: argparse.Namespace) -> dict:
    return {"dry_run": args.dry_run, "confirm": args.confirm, "confirm_timeout": args.confirm_timeout}


def run_add(args: argparse.Namespace) -> int:
    from vnet_tui.txn import api  # deferred: loads when the verb runs, not at CLI start
    req = AddRequest(
        args.target,
        args.ifname,
        args.host_ifname,
        args.mac,
        args.host_mac,
        args.ip,
        args.mtu,
        args.bridge,
        args.routed,
        raw=args.raw,
        persistent=args.persistent,
    )
    return report(args, api.add(Server.from_args(args), req, **_kw(args)))


def run_set(args: argparse.Namespace) -> int:
    from vnet_tui.txn import api  # deferred: loads when the verb runs, not at CLI start
    if args.up and args.down:
        raise InvalidInput("choose --up or --down, not both", rule="up-or-down")
    up = True if args.up else False if args.down else None
    req = SetRequest(
        args.target,
        args.ifname,
        args.end,
        args.mac,
        args.add_ip,
        args.del_ip,
        args.mtu,
        up,
        args.bridge,
        args.no_bridge,
        args.replug,
        cable=args.cable,
        rate_in=args.rate_in,
        rate_out=args.rate_out,
        mac_filter=args.mac_filter,
        ip_filter=args.ip_filter,
        isolated=args.isolated,
        vlan=args.vlan,
        trunk=args.trunk,
    )
    return report(args, api.edit_adapter(Server.from_args(args), req, **_kw(args)))


def run_del(args: argparse.Namespace) -> int:
    from vnet_tui.txn import api  # deferred: loads when the verb runs, not at CLI start
    return report(args, api.delete(Server.from_args(args),
                                    DelRequest(args.target, args.ifname, raw=args.raw, persistent=args.persistent),
                                    **_kw(args)))


def report(args: argparse.Namespace, result) -> int:  # type: ignore[no-untyped-def]
    """Print a Result as text or JSON."""
    if getattr(args, "json", False):
        print(json.dumps(result.to_json(), indent=1))
        return 0
    head = "would " + result.title if result.dry_run else result.title + ": done"
    print(head + (" (unplug pending)" if result.pending else ""))
    for c in result.commands:
        print("  " + c)
    for w in result.warnings:
        print("warning: " + w)
    for n in result.notes:
        print("note: " + n)
    if result.persists:
        print("persists: " + result.persists)
    if result.journal_id:
        print(f"journal: {result.journal_id} (revert with: vnet-tui undo)")
    if result.confirm:
        left = max(0, round(result.confirm["deadline"] - time.time()))
        print(
            f"PROTECTED ({'; '.join(result.confirm['protected'])}): run "
            f"`vnet-tui adapter confirm {result.confirm['id']}` within {left} s, or it is reverted."
        )
    return 0


def run_confirm(args: argparse.Namespace) -> int:
    from vnet_tui.txn import confirm  # deferred: loads when the verb runs, not at CLI start

    if args.list:
        waiting = confirm.unconfirmed()
        if args.json:
            print(json.dumps({"pending": waiting}, indent=1))
        else:
            for w in waiting:
                print(f"{w['id']}  {w['title']}")
        return 0
    done = confirm.confirm(args.id)
    if args.json:
        print(json.dumps({"ok": True, "confirmed": done}))
    else:
        for i in done:
            print(f"confirmed {i}: its revert timer is stopped")
    return 0
