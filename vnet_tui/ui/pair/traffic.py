"""The pair view's tests: traffic through the pair (``t``), spoofed frames (``s``), throughput against the
rate limit (``l``) — each the pair test (vnet_tui.pair) in a thread worker, traced live, its result shown.

The worker never touches a widget: it posts ``TraceBatch`` messages (the
new trace lines, coalesced), then ``TestDone`` or ``TestFailed``.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Optional

from rich.text import Text
from textual import work
from textual.screen import Screen
from textual.widgets import RichLog

from vnet_tui.core.errors import VnetError
from vnet_tui.core.text import safe
from vnet_tui.pair.forge import SPOOFS
from vnet_tui.pair.vmspoof import VM_SPOOFS
from vnet_tui.pair.result import TraceEvent

from ..detail import Facts
from ..looks import LOOKS
from ..protocol import vnet_app
from .gate import may_start
from .messages import TestDone, TestFailed, TraceBatch
from .widgets import summary_text, trace_line

TRACE_EVERY = 0.05  # s: trace lines are posted in batches at most this often
SPOOF_KINDS = list(SPOOFS)


class TrafficTest(Screen):
    """The test side of the pair view (a mixin base of PairScreen)."""

    CONTAINER_FRAMES, CONTAINER_RATE = 500, 250.0  # 2 s: slow enough to watch
    VM_FRAMES, VM_RATE = 100, 50.0
    SPOOF_FRAMES = 1000
    THROUGHPUT_SECONDS = 3.0

    target: str
    ifname: str
    from_end = "guest"
    flipped = False
    spoof_kind = "mac"
    running = False
    mode = "frames"  # the test running or run last: frames | spoof | throughput
    result: Optional[dict[str, Any]] = None

    def repaint(self) -> None:  # PairScreen paints
        raise NotImplementedError

    def plan_text(self) -> str:
        ends = getattr(self, "ends", None)
        if ends is None or ends.host is None:
            return ""
        if ends.is_vm:
            return f"{self.VM_FRAMES} ARP probes into {ends.host.iface.ifname if ends.host.iface else 'the tap'}, " \
                   "the guest answers each"
        g = ends.guest.iface.ifname if ends.guest.iface else "?"
        h = ends.host.iface.ifname if ends.host.iface else "?"
        a, b = (g, h) if self.from_end == "guest" else (h, g)
        return f"{self.CONTAINER_FRAMES} frames {a} → {b}"

    def intro(self) -> Text:
        t = Text(f"t: {self.plan_text() or 'frames through the pair'}, each traced leaving one end, arriving at the "
                 "other", style=LOOKS.note)
        if getattr(self, "ends", None) and self.ends.is_vm:
            kind = self.spoof_kind if self.spoof_kind in VM_SPOOFS else VM_SPOOFS[0]
            t.append(f"\ns: the guest itself sends {self.SPOOF_FRAMES:,} pings with a spoofed "
                     f"{SPOOFS[kind].forged} (through its agent), counted dropped at the host end (k: "
                     f"{' or '.join(VM_SPOOFS)}) · l: {self.THROUGHPUT_SECONDS:g} s of traffic against the host "
                     f"end's {self.vm_limit_text()}", style=LOOKS.note)
        else:
            t.append(f"\ns: {self.SPOOF_FRAMES:,} frames with a spoofed {SPOOFS[self.spoof_kind].forged} from the "
                     f"guest end, counted dropped at the host end (k: what is spoofed) · l: {self.THROUGHPUT_SECONDS:g} s "
                     "of traffic against the host end's rate limit", style=LOOKS.note)
        return t

    def vm_limit_text(self) -> str:
        if not self.flipped:
            return "rate limit (f: pick rate-in or rate-out)"
        return "rate-in (the tap sends; f: rate-out)" if self.from_end == "host" else \
            "rate-out (the guest pings; f: rate-in)"

    # -- keys ----------------------------------------------------------------
    def action_flip(self) -> None:
        if self.ends is not None and self.ends.is_vm:  # t tests both ways; f picks l's direction
            self.from_end = "host" if self.from_end == "guest" or not self.flipped else "guest"
            self.flipped = True
            self.repaint()
            self.notify("t: a VM's host end asks and its guest answers, both directions are tested; l now tests "
                        f"{'rate-in (the tap sends)' if self.from_end == 'host' else 'rate-out (the guest sends)'}",
                        timeout=3)
            return
        self.from_end = "host" if self.from_end == "guest" else "guest"
        self.flipped = True
        self.repaint()
        self.notify(f"t now sends {self.plan_text()}; l tests {'rate-in' if self.from_end == 'host' else 'rate-out'}",
                    timeout=2)

    def action_spoof_kind(self) -> None:
        ends = getattr(self, "ends", None)
        kinds = list(VM_SPOOFS) if ends is not None and ends.is_vm else SPOOF_KINDS
        self.spoof_kind = kinds[(kinds.index(self.spoof_kind) + 1) % len(kinds)] if self.spoof_kind in kinds \
            else kinds[0]
        self.notify(f"s now spoofs the {SPOOFS[self.spoof_kind].forged} ({self.spoof_kind})", timeout=2)
        self.repaint()

    def action_run_test(self) -> None:
        self.start("frames")

    def action_spoof(self) -> None:
        self.start("spoof")

    def action_throughput(self) -> None:
        self.start("throughput")

    def start(self, mode: str) -> None:
        if not may_start(self, "pair to send frames through", "the pair tests send frames"):
            return
        app = vnet_app(self)
        ends = self.ends
        vm = ends.is_vm
        if vm and mode == "throughput" and ends.guest.vm is not None and ends.guest.vm.runtime != "lab":
            self.notify("the throughput test runs the guest's side through its agent: lab VMs only (pair-test "
                        "says the same)", severity="warning", timeout=4)
            return
        if vm and mode == "spoof" and self.spoof_kind not in VM_SPOOFS:
            self.spoof_kind = VM_SPOOFS[0]  # the guest forges only these (pair.vmspoof)
        frames, rate = (self.VM_FRAMES, self.VM_RATE) if vm else (self.CONTAINER_FRAMES, self.CONTAINER_RATE)
        h = ends.host.iface.ifname
        g = ends.guest.vm_adapter.id if vm and ends.guest.vm_adapter else (ends.guest.iface.ifname
                                                                            if ends.guest.iface else "?")
        if vm and mode == "spoof":
            a, b, frames = f"the guest's {g}", h, self.SPOOF_FRAMES
        elif vm and mode == "throughput":
            a, b, frames = "", "", 0
        elif vm:
            a, b = h, f"answered by the guest, back at {h}"
        elif mode == "frames":
            a, b = (g, h) if self.from_end == "guest" else (h, g)
        elif mode == "spoof":
            a, b, frames = g, h, self.SPOOF_FRAMES
        else:
            a, b, frames = "", "", 0
        self.running = True
        self.mode = mode
        self.result = None
        self.cancel.clear()
        self.query_one("#pair-trace", RichLog).clear()
        self.query_one("#pair-summary", Facts).text = Text(f"running the {mode} test…", style=LOOKS.label)
        self.traffic_test(mode, frames, rate, a, b)

    # -- the worker ------------------------------------------------------------
    @work(thread=True, exclusive=True, group="pair-test", description="pair traffic test", exit_on_error=False)
    def traffic_test(self, mode: str, frames: int, rate: float, a: str, b: str) -> None:
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

        app = vnet_app(self)
        kw: dict[str, Any] = {}
        from_end: Optional[str] = self.from_end
        if mode == "spoof":
            kw, from_end = {"spoof": self.spoof_kind}, "guest"
        elif mode == "throughput":
            kw, from_end = {"throughput": self.THROUGHPUT_SECONDS}, (self.from_end if self.flipped else None)
        try:
            result = run_pair_test(app.server, self.target, self.ifname, from_end, frames or 1,  # type: ignore[arg-type]
                                   topology=app.topo, on_trace=on_trace, rate=rate if mode == "frames" else None,
                                   cancel=self.cancel, **kw)
        except (VnetError, OSError) as e:
            self.post_message(TestFailed(str(e)))
            return
        if pending:
            self.post_message(TraceBatch(pending[:], result["sent"], result["received"], frames))
        self.post_message(TestDone(result))

    cancel: threading.Event

    def on_trace_batch(self, msg: TraceBatch) -> None:
        log = self.query_one("#pair-trace", RichLog)
        width = log.scrollable_content_region.width or None  # RichLog would wrap at 78 columns before its layout
        for line in msg.lines:
            log.write(line, width=width)
        total = f"/{msg.total:,}" if msg.total else ""
        if self.mode == "spoof":
            progress = Text.assemble(("spoofed frames  ", LOOKS.label), f"sent {msg.sent:,}{total}  ",
                                     (f"got past the host end {msg.received:,}", LOOKS.bad if msg.received else LOOKS.good))
        else:
            progress = Text.assemble(("traffic  ", LOOKS.label), f"sent {msg.sent:,}{total}  ",
                                     (f"arrived {msg.received:,}", LOOKS.good),
                                     f"  not (yet) arrived {msg.sent - msg.received:,}" if self.mode == "frames" else "")
        self.query_one("#pair-progress", Facts).text = progress

    def on_test_done(self, msg: TestDone) -> None:
        self.running = False
        self.result = msg.result
        mirror = getattr(self, "mirror", None)
        if mirror is not None and msg.result.get("mode", "frames") == "frames":
            mirror.test_ok = msg.result.get("status") == "ok"  # the live check never contradicts the result below
        self.query_one("#pair-summary", Facts).text = summary_text(msg.result)
        self.read_policy_now()
        self.repaint()

    def read_policy_now(self) -> None:  # PairScreen: a fresh read of the policy's counters
        pass

    def on_test_failed(self, msg: TestFailed) -> None:
        self.running = False
        self.query_one("#pair-summary", Facts).text = Text.assemble(("the test could not run: ", LOOKS.alarm),
                                                                    safe(msg.reason))
