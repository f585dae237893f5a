"""The pair view's parts: one end's column, and the text of facts, deltas, mirror and trace lines."""

from __future__ import annotations

from typing import Any, Optional

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline

from vnet_tui.core.model import Counters
from vnet_tui.core.rates import HISTORY
from vnet_tui.core.text import safe
from vnet_tui.core.units import human_bytes, human_rate
from vnet_tui.pair.mirror import Direction
from vnet_tui.pair.result import TraceEvent
from vnet_tui.pair.throughput import bits

from ..detail import Facts
from ..looks import LOOKS
from ..rows import state_text


def facts_text(role: str, owner: str, name: str, kind: str, state: Optional[str], where: str,
               mac: Optional[str], ips: list[str], note: str = "") -> Text:
    """The lines that say which end this is."""
    t = Text()
    t.append(f"{role} · ", style=LOOKS.label)
    t.append_text(safe(owner, style=LOOKS.label))
    t.append("\n")
    t.append_text(safe(name, style=LOOKS.name))
    t.append(f"  {kind}  ", style=LOOKS.note)
    if state:
        t.append_text(state_text(state))
    t.append("\nwhere  ")
    t.append_text(safe(where))
    t.append("\nMAC    ")
    t.append_text(safe(mac or "—"))
    t.append("\nIPs    ")
    t.append_text(safe(", ".join(ips)) if ips else Text("—", style=LOOKS.note))
    if note:
        t.append(f"\n{note}", style=LOOKS.aside)
    return t


def deltas_text(delta: Optional[Counters], since: float, why: str = "") -> Text:
    """Counters as deltas since the view opened (or why there are none)."""
    t = Text()
    t.append(f"since the view opened ({since:.0f} s)", style=LOOKS.note)
    if delta is None:
        t.append(f"\n{why or 'no counters yet'}", style=LOOKS.hint)
        return t
    for d in ("tx", "rx"):
        t.append(f"\n{d}  ", style=LOOKS.label)
        t.append(f"+{getattr(delta, d + '_packets'):,} pkt", style=LOOKS.label)
        t.append(f"  +{human_bytes(getattr(delta, d + '_bytes'))}")
        drops, errs = getattr(delta, d + "_dropped"), getattr(delta, d + "_errors")
        t.append(f"  {drops} drop", style=LOOKS.bad if drops else LOOKS.note)
        t.append(f"  {errs} err", style=LOOKS.bad if errs else LOOKS.note)
    return t


def mirror_text(dirs: list[Direction], why: str = "", skew: float = 0.0) -> Text:
    """The live mirror check: what each end transmitted against what the other received."""
    t = Text()
    t.append("mirror  ", style=LOOKS.label)
    if not dirs:
        t.append(why or "waiting for both ends' counters", style=LOOKS.aside)
        return t
    for i, d in enumerate(dirs):
        if i:
            t.append("\n        ")
        style = LOOKS.flagged if d.verdict == "policy" else LOOKS.good if d.equal else LOOKS.ref if d.ok else LOOKS.alarm
        t.append(d.text(), style=style)
    if skew:
        t.append(f"\n        (guest read through its agent {skew * 1000:.0f} ms apart from the tap)", style=LOOKS.note)
    return t


def trace_line(e: TraceEvent, a: str, b: str, width: int = 12) -> Optional[Text]:
    """One trace line: a frame leaving end A, or arriving at end B with its latency."""
    seq = Text(f"#{e.seq:05d}  ", style=LOOKS.label)
    if e.kind == "sent":
        return Text.assemble(seq, (f"{a[:width]:>{width}} ", LOOKS.ref), ("━━▶", LOOKS.ref), ("  left", LOOKS.note))
    if e.kind == "arrived" and e.seq < 0:  # a spoofed frame seen past the host end
        return Text.assemble(" " * (width + 8), ("━━▶ ", LOOKS.bad), (f"got past {b}", LOOKS.alarm),
                             f"  ({e.received:,} so far)")
    if e.kind == "arrived":
        lat = f"{e.latency_ms:.3f} ms" if e.latency_ms is not None else ""
        return Text.assemble(seq, (" " * (width + 1)), ("━━▶ ", LOOKS.good), (b, LOOKS.done), f"  {lat}")
    if e.kind == "lost":
        return Text.assemble(seq, (" " * (width + 1)), ("━━✗ ", LOOKS.bad), (f"never arrived at {b}", LOOKS.alarm))
    if e.kind in ("start", "note", "done"):
        return Text(e.text, style=LOOKS.label if e.kind != "note" else LOOKS.note)
    return None


def _mode_summary(r: dict[str, Any]) -> Text:
    """A spoof or throughput test's result: the verdict, then its counts."""
    ok = r["status"] == "ok"
    t = Text()
    t.append("✓ " if ok else f"✗ {r['status'].replace('-', ' ')}: ", style=LOOKS.done if ok else LOOKS.alarm)
    if r.get("mode") == "throughput" and r["throughput"]["limit_bps"]:  # short: the per-second line must fit
        tp = r["throughput"]
        word = tp["direction"].replace("_", "-")
        how = {"nft-limit": "nft policer", "tbf": "tbf"}.get(tp["mechanism"], tp["mechanism"])
        d = tp["drops"]
        dropped = d["rate_out"]["packets"] if tp["direction"] == "rate_out" else d["rate_in"]["drops"]
        t.append(f"held at {bits(tp['held_bps'])} against a limit of {bits(tp['limit_bps'])} ({word}, {how}) · "
                 f"offered {bits(tp['offered_bps'])} for {tp['seconds']:.1f} s · {how} dropped {dropped:,}")
    else:
        t.append_text(safe(r["message"]))
    if r.get("mode") == "spoof":
        sp = r["spoof"]
        left = f"{sp['left_guest']:,}" if sp["left_guest"] is not None else "?"
        t.append(f"\nleft the guest end {left} · dropped at the host end {sp['dropped_at_host']:,} "
                 f"({sp['filter'].replace('_', ' ')}, rule {sp['rule']}) · got past {sp['got_past']:,}",
                 style=LOOKS.label)
    else:
        tp = r["throughput"]
        t.append("\nper second: " + "  ".join(bits(v) for v in tp["per_second_bps"]) +
                 f"   frames sent {tp['frames_sent']:,} arrived {tp['frames_arrived']:,}", style=LOOKS.label)
    return t


def summary_text(r: dict[str, Any]) -> Text:
    """The result of a traffic test in two lines."""
    status = r["status"]
    if r.get("mode", "frames") != "frames" and r["sent"]:
        return _mode_summary(r)
    if status not in ("ok", "lost"):
        return Text.assemble((f"{status.replace('-', ' ')}: ", LOOKS.caution), safe(r["message"]))
    t = Text()
    t.append("✓ " if status == "ok" else "✗ ", style=LOOKS.done if status == "ok" else LOOKS.alarm)
    t.append_text(safe(r["message"]))
    lat = r["latency_ms"]
    t.append(f"\nsent {r['sent']:,}  received {r['received']:,}  lost {r['lost']:,}  "
             f"out of order {r['out_of_order']:,}")
    if lat.get("p50") is not None:
        t.append(f"  latency p50 {lat['p50']:.3f} ms  p99 {lat['p99']:.3f} ms")
    g, h = r["ends"].get("guest"), r["ends"].get("host")
    parts = []
    for name, d in (("guest", g), ("host", h)):
        parts.append(f"{name} end tx +{d['tx_packets']:,} rx +{d['rx_packets']:,}" if d else
                     f"{name} end not observable")
    t.append("\ncounters: " + " · ".join(parts), style=LOOKS.note)
    m = r.get("mirror") or {}
    if m.get("directions"):
        exact = all(d.get("verdict", "equal") == "equal" for d in m["directions"])
        t.append("  mirror ✓" if m.get("ok") and exact else "  mirror ≈ in step" if m.get("ok") else "  mirror ✗",
                 style=LOOKS.good if m.get("ok") else LOOKS.bad)
    return t


def padded(values: list[float]) -> list[float]:
    """HISTORY points, zeros first, so bars grow from the left edge of time."""
    return [0.0] * (HISTORY - len(values)) + values[-HISTORY:] if values else [0.0] * 2


class EndColumn(Vertical):
    """One end of the pair: who it is, counter deltas, and big rx/tx rate sparklines."""

    def compose(self) -> ComposeResult:
        yield Facts(classes="pair-facts")
        yield Facts(classes="pair-deltas")
        for d in ("tx", "rx"):
            yield Facts(classes=f"pair-spark-title {d}-title")
            with Horizontal(classes="pair-spark-row"):
                yield Label(d, classes="pair-spark-label")
                yield Sparkline([], classes=f"pair-spark {d}")

    def show(self, facts: Text, deltas: Text, rx: list[float], tx: list[float]) -> None:
        """Repaint only what changed (the Facts are reactives; sparklines compare their data)."""
        self.query_one(".pair-facts", Facts).text = facts
        self.query_one(".pair-deltas", Facts).text = deltas
        for d, values in (("rx", rx), ("tx", tx)):
            spark = self.query_one(f".pair-spark.{d}", Sparkline)
            data = padded(values)
            if spark.data != data:
                spark.data = data
            now = human_rate(values[-1]) if values else "—"
            peak = human_rate(max(values)) if values else "—"
            self.query_one(f".{d}-title", Facts).text = Text.assemble(
                (f"{d} bytes/s", LOOKS.label), f"  now {now}, peak {peak} over the last {HISTORY} samples")
