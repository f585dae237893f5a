"""`vnet-tui lab up|down|list`: build, remove and list labs (CLI.md, "The lab")."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Optional

from vnet_tui.commands.common import OK, number
from vnet_tui.core.server import check_lab_name

if TYPE_CHECKING:
    from vnet_tui.lab import BootArgs, LabInfo

PROGRESS_FROM = 200  # containers: print progress lines for labs this big
GUEST_TIMEOUT = 90.0  # s: booted guests' agents must answer by then (TCG, a busy machine)


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _span(names: list[str]) -> str:
    if not names:
        return ""
    return f" ({names[0]}–{names[-1]})" if len(names) > 2 else f" ({', '.join(names)})"


def boot_guests(info: "LabInfo", quiet: bool = False) -> None:
    """Wait for a lab's booted guests to answer through their agents; warn about those that don't."""
    from vnet_tui.lab import wait_for_guests  # deferred off CLI start: the lab builder's imports cost ~0.3 s

    agents = {v.name: v.qga for v in info.vms if v.booted and v.qga}
    if not agents:
        return
    if not quiet:
        _progress(f"waiting for {len(agents)} VM guest{'s' if len(agents) > 1 else ''} to boot…")
    t0 = time.monotonic()
    late = wait_for_guests(agents, timeout=GUEST_TIMEOUT)
    for name, why in late.items():
        print(f"vnet-tui: warning: {name}: the guest did not answer ({why}); "
              f"its console: {info.vm(name).console}", file=sys.stderr)
    if not quiet and len(late) < len(agents):
        _progress(f"guests up in {time.monotonic() - t0:.1f} s")


def guest_boot_or_fail(vms: int, boot: bool) -> "Optional[BootArgs]":
    """The boot hook for ``up`` (None: VMs stay paused); builds the guest image on first use."""
    if not (boot and vms):
        return None
    from vnet_tui.guest import GuestImageError  # deferred off CLI start: the guest image builder's imports
    from vnet_tui.lab import guest_boot  # deferred off CLI start: the lab builder's imports cost ~0.3 s
    from vnet_tui.lab.vms import find_qemu  # deferred off CLI start: the lab builder's imports cost ~0.3 s

    if not find_qemu():
        return None  # up() builds no VMs and says why
    try:
        return guest_boot(progress=_progress)
    except GuestImageError as e:
        raise GuestImageError(f"{e} (or use --no-boot: VMs stay paused, no guest)") from e


def cmd_up(args: argparse.Namespace) -> int:
    from vnet_tui.lab import up  # deferred off CLI start: the lab builder's imports cost ~0.3 s

    check_lab_name(args.name)
    big = args.containers >= PROGRESS_FROM
    boot = guest_boot_or_fail(args.vms, args.boot)
    info = up(args.name, containers=args.containers, vms=args.vms, seed=args.seed,
              progress=_progress if big else None, boot=boot, bridges=args.bridges)
    for w in info.warnings:
        print(f"vnet-tui: warning: {w}", file=sys.stderr)
    boot_guests(info, quiet=args.json)
    if args.json:
        print(json.dumps(info.to_json(), indent=1))
        return OK
    booted = sum(1 for v in info.vms if v.booted)
    vms = f"{len(info.vms)} VMs{_span(info.vm_names)}" + (
        f" running the lab guest" if booted else " paused (no guest)" if info.vms else "")
    names = [b.name for b in info.bridges] or [info.bridge]
    bridges = (f"bridge {info.bridge} {info.bridge_ipv4}" if len(names) == 1 else
               f"bridges {names[0]}–{names[-1]} linked to {info.bridge} {info.bridge_ipv4}")
    print(f"lab {info.name} up in {info.seconds:.2f} s: host namespace {info.host_netns} ({bridges}), "
          f"{len(info.containers)} containers{_span(info.container_names)}, {vms}")
    print(f"  look at it: vnet-tui --lab {info.name}    remove it: vnet-tui lab down {info.name}")
    return OK


def cmd_down(args: argparse.Namespace) -> int:
    from vnet_tui.lab import down  # deferred off CLI start: the lab builder's imports cost ~0.3 s

    check_lab_name(args.name)
    t0 = time.monotonic()
    down(args.name, progress=_progress)
    if args.json:
        print(json.dumps({"down": args.name}))
    else:
        print(f"lab {args.name} down in {time.monotonic() - t0:.2f} s")
    return OK


def cmd_list(args: argparse.Namespace) -> int:
    from vnet_tui.lab import list_labs  # deferred off CLI start: the lab builder's imports cost ~0.3 s

    labs = list_labs()
    if args.json:
        print(json.dumps({"labs": [l.to_json() for l in labs]}, indent=1))
        return OK
    if not labs:
        print("no labs (make one: vnet-tui lab up NAME)")
        return OK
    print(f"{'NAME':<9} {'STATUS':<12} {'CONTAINERS':>10} {'VMS':>4}  HOST NAMESPACE")
    for l in labs:
        print(f"{l.name:<9} {l.status:<12} {l.containers:>10} {l.vms:>4}  {l.host_netns}")
    return OK


_nonneg = number(int, 0, says="must be 0 or more")


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser(
        "lab", help="build or remove a lab: a self-contained server in namespaces (for demos and tests)",
        description="A lab is a small, real server inside network namespaces: host namespace vl-NAME-host "
                    "with bridge br0 (and br1… linked to it past ~1,000 containers: a Linux bridge "
                    "takes 1,024 ports), containers ct101… (namespaces vl-NAME-ct101…, veth adapters "
                    "veth101.0 ↔ eth0) and QEMU VMs vm201… (tap adapters vme<hex>.0) that boot a minimal "
                    "Linux guest with a guest agent (--no-boot: paused, no guest). "
                    "It never touches this machine's own network.",
    )
    lsub = p.add_subparsers(dest="lab_verb", metavar="up|down|list", required=True)

    u = lsub.add_parser("up", help="build lab NAME")
    u.add_argument("name", metavar="NAME", help="1–8 of a-z0-9")
    u.add_argument("--containers", type=_nonneg, default=3, metavar="N", help="containers (default 3)")
    u.add_argument("--vms", type=_nonneg, default=2, metavar="M",
                   help="VMs (default 2; none, with a warning, when QEMU is missing)")
    u.add_argument("--bridges", type=_nonneg, default=0, metavar="B",
                   help="bridges br0… to spread the containers over (default: the fewest the size needs, "
                        "about one per 1,000 containers: a Linux bridge takes 1,024 ports)")
    u.add_argument("--seed", type=_nonneg, default=0, metavar="S", help="seed of the MACs (default 0)")
    u.add_argument("--boot", action=argparse.BooleanOptionalAction, default=True,
                   help="VMs boot a real minimal guest (eth0 at 198.18.200.N, QEMU guest agent) and lab up "
                        "waits for it; --no-boot keeps them paused with no guest (default: --boot)")
    u.add_argument("--json", action="store_true", help="print the lab as JSON")
    u.set_defaults(func=cmd_up)

    d = lsub.add_parser("down", help="remove lab NAME: every namespace, process, link and file")
    d.add_argument("name", metavar="NAME")
    d.add_argument("--json", action="store_true", help="errors as JSON")
    d.set_defaults(func=cmd_down)

    ls = lsub.add_parser("list", help="list labs")
    ls.add_argument("--json", action="store_true", help="print as JSON")
    ls.set_defaults(func=cmd_list)
