"""The pair view: an adapter's two ends side by side, live, and traffic through it on ``t``.

Guest (or container) end on the left, host end on the right: who each
is, counters as deltas since the view opened, big rx/tx rate sparklines,
and the mirror check between them.  The interface ends come from the
app's live feed (read on a short timer: the screen never blocks it); a
VM's guest end from its guest agent, polled in a thread worker beside
its tap.  ``t`` runs the pair test (vnet_tui.pair) in a thread worker
whose trace shows each frame leaving one end and arriving at the other.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import RichLog, Static
from textual.worker import Worker, WorkerState

from vnet_tui.core.errors import VnetError
from vnet_tui.core.model import Counters
from vnet_tui.core.rates import HISTORY
from vnet_tui.core.text import safe
from vnet_tui.pair.mirror import MirrorWatch
from vnet_tui.pair.result import TraceEvent
from vnet_tui.pair.watch import GuestReading, GuestWatch, guest_status

from ..detail import Facts
from ..footer import KeyFooter
from ..rows import Row, addresses
from .messages import GuestPolled, TestDone, TestFailed, TraceBatch
from .widgets import EndColumn, deltas_text, facts_text, mirror_text, summary_text, trace_line

if TYPE_CHECKING:
    from ..app import VnetApp

TICK = 0.25  # s: how often the view looks for a new sample
GUEST_POLL = 1.0  # s: how often a VM's guest agent is asked
TRACE_EVERY = 0.05  # s: trace lines are posted in batches at most this often


class PairScreen(Screen):
    """Both ends of one adapter, live; ``t`` sends frames through it."""

    CSS_PATH = Path(__file__).with_name("pair.tcss")
    BINDINGS = [
        Binding("t", "run_test", "traffic test", id="pair-test",
                tooltip="Send frames into one end and watch them arrive at the other"),
        Binding("f", "flip", "flip direction", id="pair-flip",
                tooltip="Send from the other end next time (containers)"),
        Binding("escape,q", "close", "back", id="pair-back", tooltip="Back to the panes"),
    ]
    CONTAINER_FRAMES, CONTAINER_RATE = 500, 250.0  # 2 s: slow enough to watch
    VM_FRAMES, VM_RATE = 100, 50.0

    def __init__(self, pane: str, key: str, target: str, ifname: str) -> None:
        super().__init__(id="pair")
        self.pane, self.key, self.target, self.ifname = pane, key, target, ifname
        self.opened = time.monotonic()
        self.from_end = "guest"
        self.base: dict[Any, Counters] = {}  # end key -> counters when the view opened
        self.guest: Optional[GuestReading] = None
        self.guest_base: Optional[tuple[Counters, Counters]] = None  # (guest NIC, tap) at the first reading
        self.guest_rates: deque[tuple[float, float]] = deque(maxlen=HISTORY)
        self._prev_guest: Optional[GuestReading] = None
        self._watch: Optional[GuestWatch] = None
        self._polling = False
        self._seen: tuple = ()
        self.cancel = threading.Event()
        self.running = False
        self.result: Optional[dict[str, Any]] = None
        self.mirror: Optional[MirrorWatch] = None  # made on mount, when it is known whether the guest is a VM

    @property
    def vnet(self) -> "VnetApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(id="pair-title")
        with Horizontal(id="pair-ends"):
            yield EndColumn(id="pair-guest")
            yield Static("⇄", id="pair-arrow")
            yield EndColumn(id="pair-host")
        yield Facts(id="pair-mirror")
        yield Facts(id="pair-progress")
        yield RichLog(id="pair-trace", max_lines=400, markup=False, wrap=True, auto_scroll=True)
        yield Facts(id="pair-summary")
        yield KeyFooter()

    # -- lifecycle ---------------------------------------------------------
    def on_mount(self) -> None:
        row = self.row()
        self.mirror = MirrorWatch(vm=bool(row is not None and row.guest is not None and row.guest.vm is not None),
                                  clock=lambda: time.monotonic())
        if row is not None and row.guest is not None and row.guest.vm is not None:
            self.from_end = "host"  # a VM's host end asks, its guest answers
            if self.vnet.server is not None and row.guest.vm_adapter is not None:
                tap = row.host.iface if row.host else None
                self._watch = GuestWatch(self.vnet.server, row.guest.vm, row.guest.vm_adapter,
                                         tap.ifindex if tap else None)
                self.set_interval(GUEST_POLL, self._poll_guest)
                self._poll_guest()
        self.query_one("#pair-trace", RichLog).write(self._intro())
        self.refresh_view()
        self.set_interval(TICK, self.refresh_view)

    def on_resize(self) -> None:
        self.set_class(self.size.height < 40, "short")

    def on_unmount(self) -> None:
        self.cancel.set()
        if self._watch is not None:
            self._watch.close()

    def row(self) -> Optional[Row]:
        return self.vnet.main.pane(self.pane).rows_by_key.get(self.key)

    @property
    def is_vm(self) -> bool:
        row = self.row()
        return bool(row and row.guest and row.guest.vm is not None)

    # -- the view ----------------------------------------------------------
    def _delta(self, key: Any) -> Optional[Counters]:
        sample = self.vnet.sample
        now = sample.counters_of(key) if sample and key else None
        if now is None:
            return None
        base = self.base.get(key)
        if base is None or now.rx_packets < base.rx_packets or now.tx_packets < base.tx_packets:
            self.base[key] = base = now  # first sight, or the counters restarted (a new interface)
        return now.minus(base)

    def _history(self, key: Any) -> tuple[list[float], list[float]]:
        feed = self.vnet.feed
        return feed.history(key) if key else ([], [])

    def refresh_view(self) -> None:
        """Repaint from the app's latest sample and the last guest reading (only when they changed)."""
        row, sample = self.row(), self.vnet.sample
        seen = (row, sample, self.guest, int(time.monotonic()))  # each second too: the mirror's grace runs out
        if seen == self._seen:
            return
        self._seen = seen
        title = self.query_one("#pair-title", Static)
        if row is None or row.guest is None or row.host is None:
            title.update(Text(f"Pair {self.target}:{self.ifname} — the adapter is gone", style="bold red"))
            return
        g, h = row.guest, row.host
        since = time.monotonic() - self.opened
        hi = h.iface
        host_delta = self._delta(h.key)
        assert hi is not None
        host_facts = facts_text("host end", h.owner, hi.ifname, hi.kind, hi.state, h.netns, hi.mac,
                                addresses(hi), f"on {hi.master}" if hi.master else "")
        hrx, htx = self._history(h.key)
        self.query_one("#pair-host", EndColumn).show(host_facts, deltas_text(host_delta, since), hrx, htx)
        if g.vm is not None and g.vm_adapter is not None:
            gtitle = f"{g.owner}:{g.vm_adapter.id}"
            guest_delta, gfacts, why = self._vm_guest(g)
            grx = [r for r, _ in self.guest_rates]
            gtx = [t for _, t in self.guest_rates]
            dirs, skew = self._vm_mirror()
        else:
            gi = g.iface
            assert gi is not None
            gtitle = f"{g.owner}:{gi.ifname}"
            guest_delta, why = self._delta(g.key), ""
            gfacts = facts_text("guest end", g.owner, gi.ifname, gi.kind, gi.state, g.netns, gi.mac, addresses(gi))
            grx, gtx = self._history(g.key)
            dirs, skew = self._check(guest_delta, host_delta), 0.0
        self.query_one("#pair-guest", EndColumn).show(gfacts, deltas_text(guest_delta, since, why), grx, gtx)
        self.query_one("#pair-mirror", Facts).text = mirror_text(dirs, why, skew)
        t = Text("Pair ", style="bold")
        t.append_text(safe(gtitle, style="bold cyan"))
        t.append("  guest end ⇄ host end  ", style="dim")
        t.append_text(safe(hi.ifname, style="bold cyan"))
        t.append(f"   t: {self._plan_text()}", style="dim")
        title.update(t)

    def _vm_guest(self, g: Any) -> tuple[Optional[Counters], Text, str]:
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
        if nic.counters is None or self.guest_base is None:
            return None, facts, "the agent reports no counters"
        return nic.counters.minus(self.guest_base[0]), facts, ""

    def _vm_mirror(self) -> tuple[list, float]:
        r = self.guest
        if r is None or r.status != "ok" or r.nic is None or r.nic.counters is None or r.tap is None:
            return [], 0.0
        if self.guest_base is None:
            return [], 0.0
        return self._check(r.nic.counters.minus(self.guest_base[0]), r.tap.minus(self.guest_base[1])), r.skew

    def _check(self, guest: Optional[Counters], host: Optional[Counters]) -> list:
        if self.mirror is None:
            self.mirror = MirrorWatch(vm=self.is_vm, clock=lambda: time.monotonic())
        return self.mirror.update(guest, host)

    def _plan_text(self) -> str:
        row = self.row()
        if row is None or row.guest is None or row.host is None:
            return ""
        if self.is_vm:
            return f"{self.VM_FRAMES} ARP probes into {row.host.iface.ifname if row.host.iface else 'the tap'}, " \
                   "the guest answers each"
        g = row.guest.iface.ifname if row.guest.iface else "?"
        h = row.host.iface.ifname if row.host.iface else "?"
        a, b = (g, h) if self.from_end == "guest" else (h, g)
        return f"{self.CONTAINER_FRAMES} frames {a} → {b}   f: flip"

    def _intro(self) -> Text:
        return Text(f"press t: {self._plan_text() or 'send frames through the pair'} — each frame is traced "
                    "as it leaves one end and arrives at the other", style="dim")

    # -- the guest agent (VMs) --------------------------------------------
    def _poll_guest(self) -> None:
        if self._watch is not None and not self._polling:
            row = self.row()
            if row is not None and row.guest is not None and row.guest.vm is not None:
                self._watch.vm = row.guest.vm  # paused or resumed since
            self._polling = True
            self.poll_guest()

    @work(thread=True, exclusive=True, group="pair-guest", description="guest agent poll", exit_on_error=False)
    def poll_guest(self) -> None:
        assert self._watch is not None
        self.post_message(GuestPolled(self._watch.read()))

    def on_guest_polled(self, msg: GuestPolled) -> None:
        self._polling = False
        r = msg.reading
        prev = self._prev_guest
        if r.status == "ok" and r.nic is not None and r.nic.counters is not None and r.tap is not None:
            if self.guest_base is None:
                self.guest_base = (r.nic.counters, r.tap)
            if prev is not None and prev.nic is not None and prev.nic.counters is not None and r.at > prev.at:
                dt = r.at - prev.at
                c, p = r.nic.counters, prev.nic.counters
                self.guest_rates.append((max(0.0, (c.rx_bytes - p.rx_bytes) / dt),
                                         max(0.0, (c.tx_bytes - p.tx_bytes) / dt)))
            self._prev_guest = r
        self.guest = r
        self.refresh_view()

    # -- the traffic test --------------------------------------------------
    def action_flip(self) -> None:
        if self.is_vm:
            self.notify("a VM's host end asks and its guest answers: both directions are tested", timeout=3)
            return
        self.from_end = "host" if self.from_end == "guest" else "guest"
        self._seen = ()
        self.refresh_view()
        self.notify(f"t now sends {self._plan_text().split('   ')[0]}", timeout=2)

    def action_close(self) -> None:
        self.cancel.set()
        self.app.pop_screen()

    def action_run_test(self) -> None:
        app = self.vnet
        if self.running:
            self.notify("a traffic test is running", timeout=2)
            return
        if app.server is None or app.topo is None:
            self.notify("a recording: there is no live pair to send frames through", severity="warning", timeout=4)
            return
        if not app.read_write:
            self.notify(f"read-only: {app.why}", title="the traffic test sends frames", severity="warning",
                        timeout=4)
            return
        row = self.row()
        if row is None or row.host is None or row.host.iface is None or row.guest is None:
            self.notify("the adapter is gone", severity="warning", timeout=3)
            return
        vm = self.is_vm
        frames, rate = (self.VM_FRAMES, self.VM_RATE) if vm else (self.CONTAINER_FRAMES, self.CONTAINER_RATE)
        g = row.guest.vm_adapter.id if vm and row.guest.vm_adapter else (row.guest.iface.ifname
                                                                         if row.guest.iface else "?")
        h = row.host.iface.ifname
        if vm:
            a, b = h, f"answered by the guest, back at {h}"
        else:
            a, b = (g, h) if self.from_end == "guest" else (h, g)
        self.running = True
        self.result = None
        self.cancel.clear()
        log = self.query_one("#pair-trace", RichLog)
        log.clear()
        self.query_one("#pair-summary", Facts).text = Text("running…", style="bold")
        self.traffic_test(frames, rate, a, b)

    @work(thread=True, exclusive=True, group="pair-test", description="pair traffic test", exit_on_error=False)
    def traffic_test(self, frames: int, rate: float, a: str, b: str) -> None:
        from vnet_tui.pair import run_pair_test

        pending: list[Text] = []
        last = [0.0]

        def on_trace(e: TraceEvent) -> None:
            line = trace_line(e, a, b, width=max(8, min(16, len(a))))
            if line is not None:
                pending.append(line)
            now = time.monotonic()
            if now - last[0] >= TRACE_EVERY or e.kind in ("start", "done"):
                last[0] = now
                self.post_message(TraceBatch(pending[:], e.sent, e.received, frames))
                pending.clear()

        app = self.vnet
        try:
            result = run_pair_test(app.server, self.target, self.ifname, self.from_end, frames,  # type: ignore[arg-type]
                                   topology=app.topo, on_trace=on_trace, rate=rate, cancel=self.cancel)
        except (VnetError, OSError) as e:
            self.post_message(TestFailed(str(e)))
            return
        if pending:
            self.post_message(TraceBatch(pending[:], result["sent"], result["received"], frames))
        self.post_message(TestDone(result))

    def on_trace_batch(self, msg: TraceBatch) -> None:
        log = self.query_one("#pair-trace", RichLog)
        for line in msg.lines:
            log.write(line)
        self.query_one("#pair-progress", Facts).text = Text.assemble(
            ("traffic  ", "bold"), f"sent {msg.sent:,}/{msg.total:,}  ", (f"arrived {msg.received:,}", "green"),
            f"  in flight or lost {msg.sent - msg.received:,}")

    def on_test_done(self, msg: TestDone) -> None:
        self.running = False
        self.result = msg.result
        if self.mirror is not None:  # the live check never contradicts the result shown below it
            self.mirror.test_ok = msg.result.get("status") == "ok"
        self._seen = ()
        self.refresh_view()
        self.query_one("#pair-summary", Facts).text = summary_text(msg.result)

    def on_test_failed(self, msg: TestFailed) -> None:
        self.running = False
        self.query_one("#pair-summary", Facts).text = Text.assemble(("the test could not run: ", "bold red"),
                                                                    safe(msg.reason))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        if event.worker.group == "pair-test":
            self.post_message(TestFailed(f"{event.worker.error}"))
        elif event.worker.group == "pair-guest":
            self._polling = False
            self.guest = GuestReading("guest-not-observable", f"{event.worker.error}")
