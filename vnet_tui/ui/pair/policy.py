"""The host end's policy in the pair view: read from the kernel, its drop counters and the throughput
against each rate limit, and what the mirror check needs to explain policy drops.

Read in a thread worker (it may run nft) at most every ``POLICY_EVERY``
seconds, when a new sample arrives — the view follows the app's samples
and reads nothing of its own between them.  Counters are shown since
the view opened (the first reading is the base).

``i`` runs the isolation test (pair-test --isolation, vnet_tui.pair.isolation)
in a thread worker: frames from temporary probe ports on the host end's
bridge that its isolation should hold back, counted at the guest end; the
result is shown per kind.  Leaving the view cancels it (the probe ports
are removed in the worker's ``finally``).
"""

from __future__ import annotations

import os
from typing import Any, Optional

from rich.text import Text
from textual import work
from textual.message import Message
from textual.screen import Screen
from textual.widgets import RichLog

from vnet_tui.core.errors import VnetError
from vnet_tui.core.text import safe
from vnet_tui.net.netns import open_netns
from vnet_tui.pair import hostpolicy
from vnet_tui.pair.hostpolicy import LimitNow, PolicyDrops, PolicyReading
from vnet_tui.pair.throughput import bits
from vnet_tui.policy import probe

from ..detail import Facts
from ..looks import LOOKS
from ..protocol import vnet_app
from .gate import may_start
from .messages import TestFailed

POLICY_EVERY = 1.0  # s: at most this often, on a sample
ISOLATION_FRAMES = 500  # of each kind
FLAG_WORDS = {"isolated": "isolated", "unicast_flood": "flood off", None: "control"}


class IsolationDone(Message, bubble=False):
    """The isolation test's result (pair-test --isolation's)."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__()
        self.result = result


class HostPolicyRead(Message, bubble=False):
    """The host end's policy and counters, as just read (for this screen only: the app has a PolicyRead of
    its own)."""

    def __init__(self, reading: PolicyReading) -> None:
        super().__init__()
        self.reading = reading

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, HostPolicyRead)


class PolicyPanel(Screen):
    """The policy side of the pair view (a mixin base of PairScreen)."""

    policy_first: Optional[PolicyReading] = None
    policy_prev: Optional[PolicyReading] = None
    policy_now: Optional[PolicyReading] = None
    _policy_fd = -1
    _policy_reading = False
    _policy_at = 0.0

    def open_policy(self, server: Any) -> None:
        try:
            self._policy_fd = open_netns(server.host_netns)
        except OSError:
            self._policy_fd = -1

    def close_policy(self) -> None:
        if self._policy_fd >= 0:
            os.close(self._policy_fd)
            self._policy_fd = -1

    def maybe_read_policy(self, host: Any, now: float, force: bool = False) -> None:
        """Start a read when one is due (called on each sample) — never two at once."""
        if self._policy_fd < 0 or host is None or host.iface is None or self._policy_reading:
            return
        if not force and now - self._policy_at < POLICY_EVERY:
            return
        self._policy_at = now
        self._policy_reading = True
        self.read_host_policy(host.iface.ifname, host.iface.ifindex)

    @work(thread=True, exclusive=True, group="pair-policy", description="host end policy", exit_on_error=False)
    def read_host_policy(self, ifname: str, ifindex: int) -> None:
        self.post_message(HostPolicyRead(hostpolicy.reading(self._policy_fd, ifname, ifindex)))

    def on_host_policy_read(self, msg: HostPolicyRead) -> None:
        self._policy_reading = False
        r = msg.reading
        if self.policy_first is None or (r.policy is not None and self.policy_first.policy is None):
            self.policy_first = r
        self.policy_prev, self.policy_now = self.policy_now, r
        self.repaint()

    def policy_failed(self) -> None:
        self._policy_reading = False

    # -- i: the isolation test ------------------------------------------------------------
    def action_isolation(self) -> None:
        me: Any = self
        if not may_start(self, "bridge to send frames on", "the isolation test adds probe ports"):
            return
        app = vnet_app(self)
        ends = me.ends
        me.running, me.mode, me.result = True, "isolation", None
        me.cancel.clear()
        log = self.query_one("#pair-trace", RichLog)
        log.clear()
        log.write(Text(f"probe ports on {ends.host.iface.ifname}'s bridge → the guest end: {ISOLATION_FRAMES:,} "
                       "frames of each kind that its isolation should hold back, and a control", style=LOOKS.note))
        self.query_one("#pair-summary", Facts).text = Text("running the isolation test…", style=LOOKS.label)
        self.isolation_test(ISOLATION_FRAMES)

    @work(thread=True, exclusive=True, group="pair-test", description="pair isolation test", exit_on_error=False)
    def isolation_test(self, frames: int) -> None:
        from vnet_tui.pair import run_pair_test

        me: Any = self
        app = vnet_app(self)
        try:
            result = run_pair_test(app.server, me.target, me.ifname, None, frames, topology=app.topo,
                                   cancel=me.cancel, isolation=True)
        except (VnetError, OSError) as e:
            self.post_message(TestFailed(str(e)))
            return
        self.post_message(IsolationDone(result))

    def on_isolation_done(self, msg: IsolationDone) -> None:
        me: Any = self
        me.running, me.result = False, msg.result
        log = self.query_one("#pair-trace", RichLog)
        for line in isolation_lines(msg.result):
            log.write(line)
        self.query_one("#pair-summary", Facts).text = isolation_summary(msg.result)
        me.read_policy_now()
        self.repaint()

    def repaint(self) -> None:  # PairScreen paints
        raise NotImplementedError

    def policy_drops(self) -> PolicyDrops:
        """What the host end's policy dropped since the view opened."""
        if self.policy_first is None or self.policy_now is None:
            return PolicyDrops()
        return hostpolicy.drops(self.policy_first.policy, self.policy_now.policy)

    def mirror_policy(self) -> dict[str, tuple[int, str]]:
        d = self.policy_drops()
        return {"guest": d.guest_to_host(), "host": d.host_to_guest()}

    def limits(self) -> list[LimitNow]:
        if self.policy_first is None or self.policy_now is None:
            return []
        return hostpolicy.rates(self.policy_first, self.policy_prev, self.policy_now)

    def policy_text(self, host_ifname: str, live: bool) -> Text:
        return policy_text(self.policy_now.policy if self.policy_now else None, self.policy_drops(), self.limits(),
                           host_ifname, live, self.policy_now is not None)


def policy_text(pol: Optional[dict[str, Any]], since: PolicyDrops, limits: list[LimitNow], host_ifname: str,
                live: bool, read: bool) -> Text:
    """The host end's policy in four short lines: filters with drops, limits with throughput, the rest."""
    t = Text()
    t.append("policy  ", style=LOOKS.label)
    if not live:
        t.append("not read: no live server (a recording)", style=LOOKS.aside)
        return t
    if not read:
        t.append("reading the host end's policy from the kernel…", style=LOOKS.aside)
        return t
    if pol is None:
        t.append_text(safe(f"{host_ifname}'s policy cannot be read"))
        return t
    t.append_text(safe(host_ifname, style=LOOKS.name))
    lines: list[Text] = []
    for key, word in (("mac_filter", "mac filter"), ("ip_filter", "ip filter")):
        f = pol.get(key)
        if not f:
            continue
        what = f["mac"] if key == "mac_filter" else ", ".join(f["addrs"])
        rules = {r: since.rules.get(r, 0) for r in (f.get("dropped") or {})}
        n = sum(rules.values())
        line = Text(f"{word} ", style=LOOKS.label)
        line.append_text(safe(f"{what or '?'}"))
        line.append(f"  dropped {n:,}", style=LOOKS.alarm if n else LOOKS.note)
        if n:
            line.append(" (" + ", ".join(f"{r} {v:,}" for r, v in rules.items() if v) + ")", style=LOOKS.bad)
        lines.append(line)
    for lim in limits:
        word = lim.direction.replace("_", "-")
        how = {"nft-limit": "nft policer", "tbf": "tbf"}.get(lim.mechanism, lim.mechanism)
        line = Text(f"{word} {bits(lim.limit_bps)} ", style=LOOKS.label)
        line.append(f"({how})  ", style=LOOKS.note)
        line.append(f"passing {bits(lim.passing_bps) if lim.passing_bps is not None else '…'}")
        if lim.passing_bps is not None and lim.limit_bps:
            line.append(f" = {lim.passing_bps / lim.limit_bps:.0%} of the limit", style=LOOKS.ref)
        line.append(f"  dropped {lim.dropped:,}", style=LOOKS.alarm if lim.dropped else LOOKS.note)
        if lim.direction == "rate_in":
            line.append(f"  overlimits {lim.overlimits:,}", style=LOOKS.note)
        lines.append(line)
    rest = []
    if (pol.get("link") or {}).get("cable") == "unplugged":
        rest.append("CABLE UNPLUGGED (the guest has no carrier)")
    bp = pol.get("bridge_port")
    if bp and bp.get("isolated"):
        rest.append("isolated")
    if bp and not bp.get("unicast_flood", True):
        rest.append("no unknown-unicast flood")
    if pol.get("vlans"):
        rest.append("vlans " + ",".join(str(v["vid"]) for v in pol["vlans"]))
    elif bp and not probe.has("bridge-vlan-filtering"):
        rest.append("no VLANs: the kernel lacks bridge VLAN filtering")
    if rest:
        t.append("  " + " · ".join(rest))
    t.append("   (from the kernel; drops since the view opened)", style=LOOKS.note)
    if not lines:
        lines.append(Text("no filter, no rate limit (adapter set … --mac-filter on --ip-filter on --rate-out RATE)",
                          style=LOOKS.note))
    for line in lines:
        t.append("\n  ")
        t.append_text(line)
    return t


def isolation_lines(r: dict[str, Any]) -> list[Text]:
    """Per kind: what sent it where, what arrived, what held it back."""
    iso = r.get("isolation")
    if not iso:
        return []
    out = []
    for name, k in iso["kinds"].items():
        if k["skipped"]:
            out.append(Text(f"{name}: skipped — {k['skipped']}", style=LOOKS.note))
            continue
        bad = k["flag"] is not None and k["arrived"] > 0
        line = Text(f"{name:<19}", style=LOOKS.label)
        line.append(f"{k['from']} → {k['to']}  sent {k['sent']:,}  ")
        line.append(f"arrived {k['arrived']:,}", style=LOOKS.alarm if bad else LOOKS.good)
        line.append(f"  held back {k['held_back']:,} ({FLAG_WORDS.get(k['flag'], k['flag'])})"
                    + (f"  lost on the way {k['lost']:,}" if k["lost"] else ""), style=LOOKS.note)
        out.append(line)
    return out


def isolation_summary(r: dict[str, Any]) -> Text:
    """The isolation test's verdict and, short, each kind's arrivals."""
    ok = r["status"] == "ok"
    t = Text()
    t.append("✓ " if ok else f"✗ {r['status'].replace('-', ' ')}: ", style=LOOKS.done if ok else LOOKS.alarm)
    t.append_text(safe(r["message"]))
    iso = r.get("isolation")
    if iso:
        t.append("\n" + " · ".join(f"{name} arrived {k['arrived']:,}/{k['sent']:,}"
                                   for name, k in iso["kinds"].items() if not k["skipped"]), style=LOOKS.note)
    return t
