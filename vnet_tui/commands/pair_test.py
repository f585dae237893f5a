"""`vnet-tui pair-test TARGET IFNAME [--from guest|host] [--frames N] [--spoof KIND | --throughput SECONDS |
--isolation] [--json]`:
traffic through one adapter.

A container adapter (veth): N marked frames (EtherType 0x88b5, sent to
the never-forwarded 01:80:c2:00:00:0e) leave one end and are counted at
the other.  A VM adapter (tap): N ARP probes go into the tap and the
guest answers each; the guest's counters come from its guest agent.
Both ends' counter deltas and the mirror check (what one end sent, the
other received) come with the result.  Nothing is sent anywhere but the
two ends of that pair; adapters carrying the SSH session are refused.

Two demo modes show the host end's policy at work:

  --spoof mac|arp-mac|ipv4|arp|ipv6|nd
      N frames (--frames) with a forged source MAC, ARP sender MAC, IPv4
      source, ARP sender IP, IPv6 source or NDP target leave the guest
      end; the result counts them leaving it (its tx counter), dropped at
      the host end by its filter's own nftables counter, and getting past
      it. They go to 01:80:c2:00:00:0e: past the host end they go no
      further, filter or not. The mirror check calls the difference
      "policy", not loss. Without a filter (adapter set … --mac-filter on /
      --ip-filter on) the frames get past: status "got-past", exit 1.
      A lab VM's adapter: --spoof mac or ipv4 only, and the guest itself
      sends (through its guest agent: busybox gives its NIC the spoofed MAC
      or a spoofed /32 and pings an unused address pointed at the tap's own
      MAC), restored in the same run and checked ("guest_restored"); arp,
      arp-mac, ipv6 and nd are refused (spoof-kind-needs-container), and a
      VM vnet-tui did not make (guest-agent-not-ours).
  --throughput SECONDS
      full-size frames for SECONDS (1-60) at 3x the host end's rate limit,
      from the guest end against --rate-out (the nftables policer) or from
      the host end against --rate-in (the tbf); --from picks, default: the
      direction that has a limit. What arrives at the other end each
      second, the rate held after the first second against the limit read
      from the kernel, and the limit's drop counters. Status "ok" when it
      held within 35 % of the limit; "no-limit", "over-limit",
      "below-limit" or "limit-not-reached" otherwise, exit 1. A lab VM's
      adapter too, its guest's side through its agent: --from host, a
      busybox loop samples what the guest's NIC received; from the guest,
      it pings at 3x the limit in full-size fragments, counted at the tap
      before and past its policer; another manager's VM is refused
      (guest-agent-not-ours).
  --isolation
      proves adapter set … --isolated on (the host end's bridge port
      isolated, flood off). Two temporary probe ports are added to the host
      end's bridge inside the lab's host namespace (an "open" one and an
      isolated one, learning off, removed however the test ends) and send N
      frames of each kind toward the adapter; a socket on the guest end
      counts what arrives. unknown-unicast (open probe, a MAC no FDB knows:
      only flood off holds it back), isolated-unicast (isolated probe, the
      guest's MAC: only isolated holds it back), isolated-broadcast
      (isolated probe: only isolated) and open-broadcast (open probe: the
      control, which must arrive). Status "ok" when nothing of the first
      three arrived and the control did (what the kernel counted dropped
      on the way aside: a full receive backlog); "got-past" (exit 1) when
      some did, naming the adapter set … --isolated on that holds them
      back; "lost" when the control did not arrive or more went missing
      than the kernel counted dropped. The pair view's i runs it too. Lab containers only
      (isolation-needs-lab, pair-mode-needs-container); an adapter on no
      bridge is refused (isolated-not-bridge-port); no --from with it.

A guest end that is up without carrier (its cable unplugged: a container's
host end down, a lab VM's NIC link down in QEMU, read inside the guest
through its agent) is reported as "no-carrier", apart from an end that is down
itself ("end-down"); nothing is sent. VLAN traffic checks need bridge
VLAN filtering, which this kernel may lack (adapter set --vlan refuses
with kernel-lacks-bridge-vlan-filtering): pair-test has none.

Exit status: 0 every frame arrived (spoof: every frame dropped by the
filter; throughput: held near the limit); 1 some were lost, got past, or
the test could not run (a paused VM: "guest not running"; no guest agent:
"guest side not observable"; an end down; no carrier) — the result says
which; 2 invalid input; 3 not permitted (no root, or the SSH session's
adapter); 4 no such container, VM or adapter.
"""

from __future__ import annotations

import argparse
import errno
import json
import sys
from typing import Any, Optional

from vnet_tui.commands.common import FAILED, NOT_PERMITTED, OK, add_server_options, fail, number, plain_doc
from vnet_tui.core.server import Server


_positive = number(int, 1, says="must be 1 or more")
_rate = number(float, 0, strict=True, says="must be above 0")
_seconds = number(float, 1, says="must be 1 or more")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pair-test",
        help="send frames into one end of an adapter and count them at the other",
        description=plain_doc(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", metavar="TARGET", help="container or VM: its name as show prints it, an id or id prefix, a netns name or pid:N")
    p.add_argument("ifname", metavar="IFNAME",
                   help="container: the guest or host end's name (eth0, veth101.0); VM: adapter id or tap")
    p.add_argument("--from", dest="from_end", choices=("guest", "host"),
                   help="the end that sends (default: a container's guest end; a VM's host end always asks "
                        "and its guest answers)")
    p.add_argument("--frames", type=_positive, default=1000, metavar="N", help="frames to send (default 1000)")
    p.add_argument("--rate", type=_rate, metavar="FPS", help="pace the frames (default: as fast as they cross)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--spoof", metavar="KIND", choices=("mac", "arp-mac", "ipv4", "arp", "ipv6", "nd"),
                      help="send N frames with a forged source from the guest end (mac, arp-mac, ipv4, arp, ipv6, "
                           "nd) and count them dropped by the host end's filter")
    mode.add_argument("--throughput", type=_seconds, metavar="SECONDS",
                      help="send for SECONDS as fast as the host end's rate limit allows and measure what arrives "
                           "against the limit (rate-out from the guest end, rate-in from the host end)")
    mode.add_argument("--isolation", action="store_true",
                      help="send N frames of each kind the host end's isolation holds back (and a control) from "
                           "temporary probe ports on its bridge, and count what reaches the guest end (lab "
                           "containers)")
    p.add_argument("--trace", action="store_true",
                   help="print every frame as it leaves one end and arrives at the other (to stderr with --json)")
    p.add_argument("--json", action="store_true", help="the result as JSON")
    add_server_options(p)
    p.set_defaults(func=run)


def _tracer(out: Any) -> Any:
    from vnet_tui.pair import TraceEvent  # deferred: loads when the verb runs, not at CLI start

    def on(e: TraceEvent) -> None:
        if e.kind == "start":
            print(e.text, file=out)
        elif e.kind == "sent":
            print(f"  #{e.seq:05d} ─▶ left", file=out)
        elif e.kind == "arrived" and e.latency_ms is None and e.text:
            print(f"  #{e.seq:05d} ▶─ {e.text} arrived at the guest end ({e.received:,})", file=out)
        elif e.kind == "arrived" and e.latency_ms is None:
            print(f"  got past the host end ({e.received:,})", file=out)
        elif e.kind == "arrived":
            print(f"  #{e.seq:05d} ▶─ arrived {e.latency_ms:.3f} ms", file=out)
        elif e.kind == "note":
            print(f"  {e.text}", file=out)
        elif e.kind == "lost":
            print(f"  #{e.seq:05d} ✗  lost", file=out)
        out.flush()

    return on


def _counter_rows(ends: dict[str, Optional[dict[str, int]]]) -> list[str]:
    g, h = ends.get("guest"), ends.get("host")
    rows = [f"  {'counter deltas':<16}{'guest end':>14}{'host end':>14}"]
    for key in ("tx_packets", "rx_packets", "tx_bytes", "rx_bytes", "tx_dropped", "rx_dropped", "tx_errors",
                "rx_errors"):
        gv = f"+{g[key]:,}" if g is not None else "not observable"
        hv = f"+{h[key]:,}" if h is not None else "—"
        if key.endswith(("dropped", "errors")) and (g is None or not g[key]) and (h is None or not h[key]):
            continue
        rows.append(f"  {key.replace('_', ' '):<16}{gv:>14}{hv:>14}")
    return rows


def _isolation_rows(r: dict[str, Any]) -> list[str]:
    iso = r["isolation"]
    f = iso["flags"]
    rows = [f"  host end flags (read from the kernel): isolated {'on' if f['isolated'] else 'off'}  "
            f"flood {'on' if f['unicast_flood'] else 'off'}  bcast_flood {'on' if f['bcast_flood'] else 'off'}",
            f"  {'kind':<20}{'from':<16}{'to':<19}{'held by':<13}{'sent':>7}{'arrived':>9}{'held back':>11}"
            f"{'lost':>6}"]
    for name, k in iso["kinds"].items():
        by = {"isolated": "isolated", "unicast_flood": "flood off", None: "— (control)"}[k["flag"]]
        if k["skipped"]:
            rows.append(f"  {name:<20}skipped: {k['skipped']}")
            continue
        rows.append(f"  {name:<20}{k['from']:<16}{k['to']:<19}{by:<13}{k['sent']:>7,}{k['arrived']:>9,}"
                    f"{k['held_back']:>11,}{k['lost']:>6,}")
    rows.append("  probe ports: " + "  ".join(f"{p['name']} ({'isolated' if p['isolated'] else 'open'}, "
                                             f"{p['entered_bridge'] if p['entered_bridge'] is not None else '?'} entered the bridge)" for p in iso["probes"])
                + ("; removed" if iso["probes_removed"] else ""))
    return rows


def _mode_rows(r: dict[str, Any]) -> list[str]:
    if r.get("mode") == "isolation":
        return _isolation_rows(r)
    if r.get("mode") == "spoof":
        sp = r["spoof"]
        left = f"{sp['left_guest']:,}" if sp["left_guest"] is not None else "?"
        rows = [f"  spoofed {sp['forged']} ({sp['source']}): sent {r['sent']:,}  left the guest end "
                f"{left}  dropped at the host end "
                f"{sp['dropped_at_host']:,}  got past {sp['got_past']:,}"]
        rules = {k: v for k, v in sp["drops"]["rules"].items() if v}
        if rules:
            rows.append("  dropped by rule: " + "  ".join(f"{k} {v:,}" for k, v in rules.items()))
        return rows
    tp = r["throughput"]
    from vnet_tui.pair.throughput import bits  # deferred: loads when the verb runs, not at CLI start

    rows = [f"  {tp['direction'].replace('_', '-')}: limit {bits(tp['limit_bps'])}  held {bits(tp['held_bps'])}"
            + (f" ({tp['ratio']:.0%} of it)" if tp["ratio"] is not None else "")
            + f"  offered {bits(tp['offered_bps'])}",
            "  per second: " + "  ".join(bits(v) for v in tp["per_second_bps"]),
            f"  frames: sent {tp['frames_sent']:,}  arrived {tp['frames_arrived']:,}"
            + (f"  refused at send (a full queue: the tbf, or a receive backlog) {tp['held_back']:,}"
               if tp["held_back"] else "")]
    return rows


def render(r: dict[str, Any]) -> str:
    """The result for people."""
    status = r["status"]
    head = f"pair-test {r['adapter']} ({r['kind']}): "
    mode = r.get("mode", "frames")
    if r["sent"] == 0 and status != "ok":
        return head + f"{status.replace('-', ' ')}: {r['message']}"
    lat = r["latency_ms"]
    lines = [head + (f"{status.replace('-', ' ')}: " if status != "ok" and mode != "frames" else "") + r["message"]]
    if r.get("note"):
        lines.append(f"  note: {r['note']}")
    if mode != "frames":
        lines += _mode_rows(r)
    else:
        what = "probes" if r.get("method") == "arp-probes" else "frames"
        lines.append(f"  {what}: sent {r['sent']:,}  received {r['received']:,}  lost {r['lost']:,}  "
                     f"out of order {r['out_of_order']:,}  in {r.get('seconds', 0):.2f} s")
    if lat["p50"] is not None:
        lines.append(f"  latency: p50 {lat['p50']:.3f} ms  p99 {lat['p99']:.3f} ms  max {lat['max']:.3f} ms")
    lines += _counter_rows(r["ends"])
    m = r.get("mirror") or {}
    if m.get("directions"):
        from vnet_tui.pair.mirror import Direction  # deferred: loads when the verb runs, not at CLI start

        for i, d in enumerate(m["directions"]):
            pol = d.get("policy") or {}
            dd = Direction(d["from"], d["to"], d["transmitted"], d["received"], d["dropped"],
                           d["transmitted_bytes"], d["received_bytes"], d.get("verdict", ""),
                           pol.get("dropped", 0), pol.get("by", ""))
            lines.append(f"  {'mirror' if i == 0 else '':<8}{dd.text()}")
    elif m:
        lines.append(f"  mirror: {m.get('why', 'not available')}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from vnet_tui.pair import run_pair_test  # deferred: loads when the verb runs, not at CLI start

    server = Server.from_args(args)
    on_trace = _tracer(sys.stderr if args.json else sys.stdout) if args.trace else None
    try:
        result = run_pair_test(server, args.target, args.ifname, args.from_end, args.frames,
                               on_trace=on_trace, rate=args.rate, spoof=args.spoof, throughput=args.throughput,
                               isolation=args.isolation)
    except OSError as e:
        if e.errno in (errno.EPERM, errno.EACCES):
            return fail(args, NOT_PERMITTED, "privilege",
                        f"{e.strerror or e}: a pair test needs root (CAP_NET_RAW, CAP_SYS_ADMIN)")
        raise
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(render(result))
    return OK if result["status"] == "ok" else FAILED
