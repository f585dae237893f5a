"""The pair view: an adapter's two ends side by side, live, its host end's policy, and tests through it.

Guest (or container) end on the left, host end on the right: who each
is, counters as deltas since the view opened, big rx/tx rate sparklines,
the host end's policy read from the kernel (policy.py) and the mirror
check between the ends, which names policy drops as such.  The view
follows the app's state: it watches ``VnetApp.topo`` (the ends, found by
name: ends.py) and ``VnetApp.sample`` (counters, and a due policy read)
and repaints when either changes; it polls nothing of the app's.  A VM's
guest end comes from its guest agent (guest.py).  ``t``, ``s`` and ``l``
run the traffic, spoof and throughput tests (traffic.py).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Optional

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import RichLog, Static
from textual.worker import Worker, WorkerState

from vnet_tui.core.text import safe
from vnet_tui.pair.mirror import MirrorWatch

from ..detail import Facts
from ..footer import KeyFooter
from ..keys import MainKeysAbove, above_main_bindings
from ..looks import LOOKS
from ..protocol import VnetAppState, vnet_app
from .ends import Deltas, PairEnds, container_facts, find_ends, host_facts, title_of
from .guest import GuestPolling, GuestRates
from .messages import TestFailed
from .policy import PolicyPanel
from .traffic import TrafficTest
from .widgets import EndColumn, deltas_text, mirror_text

class PairScreen(TrafficTest, GuestPolling, PolicyPanel, MainKeysAbove):
    """Both ends of one adapter, live; ``t`` sends frames through it, ``s`` spoofed ones, ``l`` tests its limit."""

    CSS_PATH = Path(__file__).with_name("pair.tcss")
    BINDINGS = [
        Binding("t", "run_test", "traffic test", id="pair-test",
                tooltip="Send frames into one end and watch them arrive at the other"),
        Binding("s", "spoof", "spoof test", id="pair-spoof",
                tooltip="Send frames with a spoofed source from the guest end: the host end's filter drops and "
                        "counts them"),
        Binding("k", "spoof_kind", "spoof kind", id="pair-spoof-kind",
                tooltip="What the spoof test forges: source MAC, ARP sender MAC, IPv4/IPv6 source, ARP sender IP, "
                        "NDP target"),
        Binding("l", "throughput", "limit test", id="pair-throughput",
                tooltip="Send for a few seconds as fast as the host end's rate limit allows; the throughput "
                        "against the limit"),
        Binding("i", "isolation", "isolation test", id="pair-isolation",
                tooltip="Frames from probe ports on the host end's bridge that its isolation should hold back "
                        "(lab containers); what reaches the guest end, per kind"),
        Binding("f", "flip", "flip direction", id="pair-flip",
                tooltip="Send from the other end next time (containers); l then tests the other limit"),
        Binding("escape,q", "close", "back", id="pair-back", tooltip="Back to the panes"),
    ] + above_main_bindings()  # enter p a e d act on the main screen's selection, as there

    def __init__(self, pane: str, key: str, target: str, ifname: str) -> None:
        super().__init__(id="pair")
        self.pane, self.key, self.target, self.ifname = pane, key, target, ifname
        self.opened = time.monotonic()
        self.ends: Optional[PairEnds] = None
        self.deltas = Deltas()
        self.guest_rates = GuestRates()
        self.cancel = threading.Event()
        self.mirror: Optional[MirrorWatch] = None  # made once it is known whether the guest is a VM

    @property
    def vnet(self) -> VnetAppState:
        return vnet_app(self)

    @property
    def is_vm(self) -> bool:
        return self.ends is not None and self.ends.is_vm

    def compose(self) -> ComposeResult:
        yield Static(id="pair-title")
        with Horizontal(id="pair-ends"):
            yield EndColumn(id="pair-guest")
            yield Static("⇄", id="pair-arrow")
            yield EndColumn(id="pair-host")
        yield Facts(id="pair-mirror")
        yield Facts(id="pair-policy")
        yield Facts(id="pair-progress")
        yield RichLog(id="pair-trace", max_lines=400, markup=False, wrap=True, auto_scroll=True)
        yield Facts(id="pair-summary")
        yield KeyFooter()

    # -- lifecycle: follow the app's topology and samples --------------------
    def on_mount(self) -> None:
        app = self.vnet
        self.ends = find_ends(app.topo, self.target, self.ifname)
        self.mirror = MirrorWatch(vm=self.is_vm, clock=time.monotonic)
        ends = self.ends
        if ends is not None and ends.is_vm:
            self.from_end = "host"  # a VM's host end asks, its guest answers
            g = ends.guest
            if app.server is not None and g.vm_adapter is not None:
                tap = ends.host.iface if ends.host else None
                self.start_guest_polling(app.server, g, tap.ifindex if tap else None)
        if app.server is not None:
            self.open_policy(app.server)
        log = self.query_one("#pair-trace", RichLog)
        # once laid out, wrapped at its real width (RichLog wraps at 78 columns before it knows its size)
        self.call_after_refresh(lambda: log.write(self.intro(), width=log.scrollable_content_region.width or None))
        self.watch(app, "topo", self.on_topo, init=False)
        self.watch(app, "sample", self.on_sample, init=False)
        self.on_sample()

    def on_topo(self) -> None:
        self.ends = find_ends(self.vnet.topo, self.target, self.ifname)
        self.repaint()

    def on_sample(self) -> None:
        if self.ends is not None:
            self.maybe_read_policy(self.ends.host, time.monotonic())
        self.repaint()

    def read_policy_now(self) -> None:
        if self.ends is not None:
            self.maybe_read_policy(self.ends.host, time.monotonic(), force=True)

    def on_resize(self) -> None:
        self.set_class(self.size.height < 40, "short")

    def on_unmount(self) -> None:
        self.cancel.set()
        self.stop_guest_polling()
        self.close_policy()

    def action_close(self) -> None:
        self.cancel.set()
        self.app.pop_screen()

    # -- painting ------------------------------------------------------------
    def repaint(self) -> None:
        """Paint both ends, the policy and the mirror from the app's latest sample and the last readings."""
        ends, sample = self.ends, self.vnet.sample
        title = self.query_one("#pair-title", Static)
        if ends is None or ends.host is None or ends.host.iface is None:
            title.update(Text(f"Pair {self.target}:{self.ifname} — the adapter is gone", style=LOOKS.alarm))
            return
        g, h = ends.guest, ends.host
        since = time.monotonic() - self.opened
        host_delta = self.deltas.of(sample, h.key)
        feed = self.vnet.feed
        hrx, htx = feed.history(h.key) if h.key else ([], [])
        self.query_one("#pair-host", EndColumn).show(host_facts(h), deltas_text(host_delta, since), hrx, htx)
        policy = self.mirror_policy()
        if ends.is_vm:
            guest_delta, gfacts, why = self.vm_guest(g)
            grx, gtx = self.guest_rates.history()
            gd, td = self.guest_rates.deltas(self.guest)
            dirs = self._check(gd, td, policy) if gd is not None else []
            skew = self.guest.skew if dirs and self.guest is not None else 0.0
        else:
            guest_delta, why = self.deltas.of(sample, g.key), ""
            gfacts = container_facts(g)
            grx, gtx = feed.history(g.key) if g.key else ([], [])
            dirs, skew = self._check(guest_delta, host_delta, policy), 0.0
        self.query_one("#pair-guest", EndColumn).show(gfacts, deltas_text(guest_delta, since, why), grx, gtx)
        self.query_one("#pair-mirror", Facts).text = mirror_text(dirs, why, skew)
        self.query_one("#pair-policy", Facts).text = self.policy_text(h.iface.ifname, self.vnet.server is not None)
        t = Text("Pair ", style=LOOKS.label)
        t.append_text(safe(title_of(ends), style=LOOKS.name))
        t.append("  guest end ⇄ host end  ", style=LOOKS.note)
        t.append_text(safe(h.iface.ifname, style=LOOKS.name))
        t.append(f"   t: {self.plan_text()}", style=LOOKS.note)
        if not ends.is_vm:
            t.append(f"   s: spoof {self.spoof_kind}", style=LOOKS.note)
        title.update(t)

    def _check(self, guest: Any, host: Any, policy: dict[str, tuple[int, str]]) -> list:
        assert self.mirror is not None
        return self.mirror.update(guest, host, policy)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        if event.worker.group == "pair-test":
            self.post_message(TestFailed(f"{event.worker.error}"))
        elif event.worker.group == "pair-guest":
            self.guest_failed(event.worker.error)
        elif event.worker.group == "pair-policy":
            self.policy_failed()
