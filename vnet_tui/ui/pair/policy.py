"""The host end's policy in the pair view: read from the kernel, its drop counters and the throughput
against each rate limit, and what the mirror check needs to explain policy drops.

Read in a thread worker (it may run nft) at most every ``POLICY_EVERY``
seconds, when a new sample arrives — the view follows the app's samples
and reads nothing of its own between them.  Counters are shown since
the view opened (the first reading is the base).
"""

from __future__ import annotations

import os
from typing import Any, Optional

from rich.text import Text
from textual import work
from textual.message import Message
from textual.screen import Screen

from vnet_tui.core.text import safe
from vnet_tui.net.netns import open_netns
from vnet_tui.pair import hostpolicy
from vnet_tui.pair.hostpolicy import LimitNow, PolicyDrops, PolicyReading
from vnet_tui.pair.throughput import bits
from vnet_tui.policy import probe

POLICY_EVERY = 1.0  # s: at most this often, on a sample


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
    t.append("policy  ", style="bold")
    if not live:
        t.append("not read: no live server (a recording)", style="dim italic")
        return t
    if not read:
        t.append("reading the host end's policy from the kernel…", style="dim italic")
        return t
    if pol is None:
        t.append_text(safe(f"{host_ifname}'s policy cannot be read"))
        return t
    t.append_text(safe(host_ifname, style="bold cyan"))
    lines: list[Text] = []
    for key, word in (("mac_filter", "mac filter"), ("ip_filter", "ip filter")):
        f = pol.get(key)
        if not f:
            continue
        what = f["mac"] if key == "mac_filter" else ", ".join(f["addrs"])
        rules = {r: since.rules.get(r, 0) for r in (f.get("dropped") or {})}
        n = sum(rules.values())
        line = Text(f"{word} ", style="bold")
        line.append_text(safe(f"{what or '?'}"))
        line.append(f"  dropped {n:,}", style="bold red" if n else "dim")
        if n:
            line.append(" (" + ", ".join(f"{r} {v:,}" for r, v in rules.items() if v) + ")", style="red")
        lines.append(line)
    for lim in limits:
        word = lim.direction.replace("_", "-")
        how = {"nft-limit": "nft policer", "tbf": "tbf"}.get(lim.mechanism, lim.mechanism)
        line = Text(f"{word} {bits(lim.limit_bps)} ", style="bold")
        line.append(f"({how})  ", style="dim")
        line.append(f"passing {bits(lim.passing_bps) if lim.passing_bps is not None else '…'}")
        if lim.passing_bps is not None and lim.limit_bps:
            line.append(f" = {lim.passing_bps / lim.limit_bps:.0%} of the limit", style="cyan")
        line.append(f"  dropped {lim.dropped:,}", style="bold red" if lim.dropped else "dim")
        if lim.direction == "rate_in":
            line.append(f"  overlimits {lim.overlimits:,}", style="dim")
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
    t.append("   (from the kernel; drops since the view opened)", style="dim")
    if not lines:
        lines.append(Text("no filter, no rate limit (adapter set … --mac-filter on --ip-filter on --rate-out RATE)",
                          style="dim"))
    for line in lines:
        t.append("\n  ")
        t.append_text(line)
    return t
