"""A VM adapter's guest end in the pair view: its guest agent asked once a second, in a thread worker.

This talks to an external agent (not the app's state), so it keeps its
own timer.  Each reading pairs the guest NIC's counters (agent) with the
tap's (netlink); ``GuestRates`` keeps the first as the base for deltas
and turns two readings into rx/tx byte rates from their measured times.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Optional

from rich.text import Text
from textual import work
from textual.screen import Screen

from vnet_tui.core.model import Counters
from vnet_tui.core.rates import HISTORY
from vnet_tui.pair.watch import GuestReading, GuestWatch, guest_status

from .messages import GuestPolled
from .widgets import facts_text

GUEST_POLL = 1.0  # s: how often a VM's guest agent is asked


class GuestRates:
    """The guest NIC's base (the first good reading) and rates between readings (bytes/s, measured time)."""

    def __init__(self) -> None:
        self.base: Optional[tuple[Counters, Counters]] = None  # (guest NIC, tap) at the first reading
        self.rates: deque[tuple[float, float]] = deque(maxlen=HISTORY)
        self.prev: Optional[GuestReading] = None

    def add(self, r: GuestReading) -> None:
        if r.status != "ok" or r.nic is None or r.nic.counters is None or r.tap is None:
            return
        if self.base is None:
            self.base = (r.nic.counters, r.tap)
        prev = self.prev
        if prev is not None and prev.nic is not None and prev.nic.counters is not None and r.at > prev.at:
            dt = r.at - prev.at
            c, p = r.nic.counters, prev.nic.counters
            self.rates.append((max(0.0, (c.rx_bytes - p.rx_bytes) / dt), max(0.0, (c.tx_bytes - p.tx_bytes) / dt)))
        self.prev = r

    def history(self) -> tuple[list[float], list[float]]:
        return [r for r, _ in self.rates], [t for _, t in self.rates]

    def deltas(self, r: Optional[GuestReading]) -> tuple[Optional[Counters], Optional[Counters]]:
        """(guest NIC, tap) deltas since the base, from reading ``r`` (None where unknown)."""
        if r is None or r.status != "ok" or r.nic is None or r.nic.counters is None or r.tap is None or \
                self.base is None:
            return None, None
        return r.nic.counters.minus(self.base[0]), r.tap.minus(self.base[1])


class GuestPolling(Screen):
    """The guest-agent side of the pair view (a mixin base of PairScreen)."""

    guest: Optional[GuestReading] = None
    _watch: Optional[GuestWatch] = None
    _polling = False

    def start_guest_polling(self, server: Any, g: Any, tap_ifindex: Optional[int]) -> None:
        self.guest_rates = GuestRates()
        self._watch = GuestWatch(server, g.vm, g.vm_adapter, tap_ifindex)
        self.set_interval(GUEST_POLL, self._poll_guest)
        self._poll_guest()

    def stop_guest_polling(self) -> None:
        if self._watch is not None:
            self._watch.close()

    def _poll_guest(self) -> None:
        if self._watch is not None and not self._polling:
            ends = getattr(self, "ends", None)
            if ends is not None and ends.guest.vm is not None:
                self._watch.vm = ends.guest.vm  # paused or resumed since
            self._polling = True
            self.poll_guest()

    @work(thread=True, exclusive=True, group="pair-guest", description="guest agent poll", exit_on_error=False)
    def poll_guest(self) -> None:
        assert self._watch is not None
        self.post_message(GuestPolled(self._watch.read()))

    def on_guest_polled(self, msg: GuestPolled) -> None:
        self._polling = False
        self.guest_rates.add(msg.reading)
        self.guest = msg.reading
        self.repaint()

    def guest_failed(self, error: object) -> None:
        self._polling = False
        self.guest = GuestReading("guest-not-observable", f"{error}")

    def repaint(self) -> None:  # PairScreen paints
        raise NotImplementedError

    def vm_guest(self, g: Any) -> tuple[Optional[Counters], Text, str]:
        """The guest end's delta, facts and why there are no numbers (paused, no agent, …)."""
        vm, a = g.vm, g.vm_adapter
        if self._watch is None:
            reading: Optional[GuestReading] = GuestReading("guest-not-observable", "no live server (a recording)")
        else:
            reading = guest_status(vm) or self.guest  # paused or agent-less: say so at once
        state = "running" if vm.running else "paused"
        where = f"inside VM {vm.name} (pid {vm.pid})"
        if reading is None:
            return None, facts_text("guest end", g.owner, a.id, "NIC in the guest", state, where, a.guest_mac,
                                    [], "asking the guest agent…"), "asking the guest agent…"
        if reading.status != "ok" or reading.nic is None:
            why = "guest not running" if reading.status == "guest-not-running" else "guest side not observable"
            return None, facts_text("guest end", g.owner, a.id, "NIC in the guest", state, where, a.guest_mac,
                                    [], f"{why}: {reading.message}"), why
        nic = reading.nic
        facts = facts_text("guest end", g.owner, f"{nic.name} ({a.id})", "NIC, seen by the guest agent", state,
                           where, nic.mac or a.guest_mac,
                           [x for x in nic.addresses if not x.startswith("fe80:")])
        rates = getattr(self, "guest_rates", None)
        if nic.counters is None or rates is None or rates.base is None:
            return None, facts, "the agent reports no counters"
        return nic.counters.minus(rates.base[0]), facts, ""
