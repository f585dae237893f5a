"""``python -m bench.soak [SECONDS]``: the TUI streaming with traffic for a long time — does anything grow?

Builds a lab (``--containers`` N, no VMs), starts the demo's UDP traffic
between its containers (every adapter's counters move), churns links in
the lab's host namespace (a veth pair made and removed every
``--churn`` seconds: the structure changes too), and runs the real
``vnet-tui --lab NAME`` in a private tmux server (a real terminal,
200×50) for SECONDS (default 600).  Every ``--every`` seconds it samples
the TUI process: resident memory, open file descriptors, threads, CPU.

It prints one row per sample and a verdict: after a warm-up (the first
``--warmup`` seconds: the first sweeps, the 60-sample rate
histories filling up, the GC's first generations) RSS must stay within max(2 MB, 3 %) of its warm-up value
and rise by no more than that per 10 minutes (least-squares slope), and fds and threads must not
move by more than 2.  The screen must still say "● live" at the end.
With ``--feed-only`` the same soak runs the live feed alone (the
watcher, no Textual) in a process of its own: what the core holds, apart
from the UI's caches.  The run is written to bench/results/soak-latest.json.  Everything it
made is removed at the end, also on failure or Ctrl-C.  Nothing touches
the machine's own network: the lab lives in namespaces ``vl-…``.

Over 300 lines on purpose: one soak run, whose parts (the lab, the
traffic, the churn, the tmux terminal, the samples and the verdict) share
the run's state and its clean-up; the lab and the traffic themselves are
vnet-tui's own (vnet_tui.lab, vnet_tui.demo).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Optional

import psutil

from .machine import machine, one_line
from .session import Session

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "results", "soak-latest.json")
RSS_TOL_MB, RSS_TOL_PCT, SLOPE_MB_PER_10MIN, COUNT_TOL = 2.0, 3.0, 0.5, 2


@dataclass
class Point:
    """One sample of the TUI process."""

    t: float  # seconds since streaming began
    rss_mb: float
    fds: int
    threads: int
    cpu_pct: float  # % of one core since the sample before
    live: Optional[bool] = None  # the header says "● live" (checked every few samples)


def parse(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("seconds", nargs="?", type=float, default=600.0, help="how long to stream (default 600)")
    p.add_argument("--containers", type=int, default=50, metavar="N", help="containers in the lab (default 50)")
    p.add_argument("--interval", type=float, default=1.0, help="the TUI's refresh interval (default 1 s)")
    p.add_argument("--every", type=float, default=10.0, metavar="S", help="sample every S seconds (default 10)")
    p.add_argument("--warmup", type=float, default=None, metavar="S",
                   help="seconds left out of the verdict (default: 120 — the 60-sample rate histories fill up "
                        "first —, or a fifth of a short run)")
    p.add_argument("--churn", type=float, default=5.0, metavar="S",
                   help="make and remove a veth pair in the lab's host every S seconds (0: never; default 5)")
    p.add_argument("--feed-only", action="store_true",
                   help="soak the live feed (the watcher) in a process of its own, without the TUI")
    p.add_argument("--out", default=OUT, help=f"JSON path (default {os.path.relpath(OUT, ROOT)})")
    p.add_argument("--run-feed", nargs=2, metavar=("LAB", "STATUS_FILE"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.run_feed:
        return a
    if a.seconds <= 0 or a.every <= 0 or a.containers < 2:
        p.error("seconds and --every must be > 0, --containers ≥ 2")
    if a.warmup is None:
        a.warmup = min(120.0, a.seconds / 5)
    return a


class Churn:
    """A veth pair made and removed in the lab's host namespace, over and over (in a thread)."""

    def __init__(self, host_netns: str, period: float) -> None:
        self.host, self.period = host_netns, period
        self.rounds = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, name="soak churn", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            subprocess.run(["ip", "-n", self.host, "link", "add", "soak0", "type", "veth", "peer", "name", "soak1"],
                           capture_output=True)
            if self._stop.wait(self.period / 2):
                break
            subprocess.run(["ip", "-n", self.host, "link", "del", "soak0"], capture_output=True)
            self.rounds += 1

    def start(self) -> None:
        if self.period > 0:
            self._t.start()

    def stop(self) -> None:
        self._stop.set()
        if self._t.is_alive():
            self._t.join(10)
        subprocess.run(["ip", "-n", self.host, "link", "del", "soak0"], capture_output=True)


def run_feed(lab: str, status: str, interval: float) -> int:
    """The child of ``--feed-only``: a Watcher on the lab until SIGTERM; its progress in ``status``."""
    import signal

    from vnet_tui.core.server import Server
    from vnet_tui.live.watcher import Watcher

    w = Watcher(Server(lab=lab), interval=interval)
    seen = {"samples": 0, "topologies": 0, "errors": []}

    def write() -> None:
        with open(status + ".tmp", "w") as f:
            json.dump(seen, f)
        os.replace(status + ".tmp", status)

    def sample(_s: Any) -> None:
        seen["samples"] += 1
        write()

    def topo(_t: Any) -> None:
        seen["topologies"] += 1

    def error(why: str) -> None:
        seen["errors"].append(why)
        write()

    signal.signal(signal.SIGTERM, lambda *_: w.stop())
    w.run(topo, sample, error)
    return 0


def slope_per_10min(points: list[Point]) -> float:
    """Least-squares slope of RSS, in MB per 10 minutes."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mt = sum(p.t for p in points) / n
    mr = sum(p.rss_mb for p in points) / n
    den = sum((p.t - mt) ** 2 for p in points)
    return 0.0 if den == 0 else sum((p.t - mt) * (p.rss_mb - mr) for p in points) / den * 600


def verdict(points: list[Point], warmup: float) -> dict[str, Any]:
    """Flat or not, with the figures that decide it."""
    after = [p for p in points if p.t >= warmup] or points[-1:]
    base = after[0]
    rss_grow = max(p.rss_mb for p in after) - base.rss_mb
    rss_tol = max(RSS_TOL_MB, base.rss_mb * RSS_TOL_PCT / 100)
    slope = slope_per_10min(after)
    fds = max(p.fds for p in after) - min(p.fds for p in after)
    threads = max(p.threads for p in after) - min(p.threads for p in after)
    live = [p.live for p in points if p.live is not None]
    out = {
        "samples_judged": len(after),
        "rss_start_mb": round(base.rss_mb, 1), "rss_end_mb": round(after[-1].rss_mb, 1),
        "rss_max_growth_mb": round(rss_grow, 2), "rss_tolerance_mb": round(rss_tol, 2),
        "rss_slope_mb_per_10min": round(slope, 3),
        "fds_range": [min(p.fds for p in after), max(p.fds for p in after)],
        "threads_range": [min(p.threads for p in after), max(p.threads for p in after)],
        "cpu_mean_pct": round(sum(p.cpu_pct for p in after) / len(after), 2),
        "always_live": bool(live) and all(live),
    }
    out["rss_flat"] = rss_grow <= rss_tol and slope <= max(SLOPE_MB_PER_10MIN, rss_tol)
    out["fds_flat"] = fds <= COUNT_TOL
    out["threads_flat"] = threads <= COUNT_TOL
    out["flat"] = out["rss_flat"] and out["fds_flat"] and out["threads_flat"] and out["always_live"]
    return out


def print_table(points: list[Point], v: dict[str, Any], head: str) -> None:
    print(head)
    print(f"{'t (s)':>7} {'RSS MB':>8} {'fds':>5} {'threads':>8} {'CPU %':>7}  screen")
    for p in points:
        live = "" if p.live is None else ("● live" if p.live else "NOT LIVE")
        print(f"{p.t:7.0f} {p.rss_mb:8.1f} {p.fds:5d} {p.threads:8d} {p.cpu_pct:7.2f}  {live}")
    yes = lambda ok: "flat" if ok else "NOT FLAT"  # noqa: E731
    print(f"RSS   {v['rss_start_mb']} → {v['rss_end_mb']} MB after warm-up; max growth {v['rss_max_growth_mb']} MB "
          f"(tolerance {v['rss_tolerance_mb']}), slope {v['rss_slope_mb_per_10min']} MB/10 min: {yes(v['rss_flat'])}")
    print(f"fds   {v['fds_range'][0]}–{v['fds_range'][1]}: {yes(v['fds_flat'])}")
    print(f"threads {v['threads_range'][0]}–{v['threads_range'][1]}: {yes(v['threads_flat'])}")
    print(f"CPU   {v['cpu_mean_pct']} % of one core on average; feed live at every check: {v['always_live']}")
    print("verdict: " + ("FLAT" if v["flat"] else "NOT FLAT"))


def soak(a: argparse.Namespace, s: Session, log: Callable[[str], None]) -> dict[str, Any]:
    from vnet_tui.demo.traffic import Traffic

    log(f"building lab: {a.containers} containers …")
    info = s.lab_up(a.containers, 0, prefix="k")
    traffic = Traffic(info, period=0.2)
    churn = Churn(info.host_netns, a.churn)
    sock = s.tmux()
    cmd = f"exec {sys.executable} -m vnet_tui --lab {info.name} --interval {a.interval:g}"
    points: list[Point] = []
    status = os.path.join(s.state, "feed-status.json")
    child: Optional[subprocess.Popen] = None
    last_samples = [-1]
    try:
        traffic.start()
        if a.feed_only:
            child = s.popen([sys.executable, "-m", "bench.soak", "--interval", f"{a.interval:g}",
                             "--run-feed", info.name, status], cwd=ROOT)
            proc = psutil.Process(child.pid)
        else:
            subprocess.run(["tmux", "-L", sock, "-f", "/dev/null", "new-session", "-d", "-s", "soak", "-x", "200",
                            "-y", "50", cmd], check=True, cwd=ROOT)
            pid = int(subprocess.run(["tmux", "-L", sock, "list-panes", "-t", "soak", "-F", "#{pane_pid}"],
                                     capture_output=True, text=True, check=True).stdout.split()[0])
            proc = psutil.Process(pid)

        def screen() -> str:
            if child is None:
                return subprocess.run(["tmux", "-L", sock, "capture-pane", "-p", "-t", "soak"],
                                      capture_output=True, text=True).stdout
            try:  # the feed alone: "live" while samples keep coming and nothing stopped it
                with open(status) as f:
                    st = json.load(f)
            except (OSError, ValueError):
                return ""
            moving = st["samples"] > last_samples[0]
            last_samples[0] = st["samples"]
            return f"{len(info.containers)} containers " + ("● live" if moving and not st["errors"] else "stopped")

        t_wait = time.monotonic()
        while f"{len(info.containers)} containers" not in screen():
            if time.monotonic() - t_wait > 120:
                raise RuntimeError(f"the TUI did not show the lab: {screen()[-500:]}")
            time.sleep(0.2)
        last_samples[0] = -1  # the first check compares with nothing
        churn.start()
        log(f"streaming for {a.seconds:.0f} s (sample every {a.every:g} s) …")
        t0 = time.monotonic()
        c_prev, w_prev = proc.cpu_times(), t0
        k = 0
        while True:
            now = time.monotonic()
            c = proc.cpu_times()
            cpu = ((c.user - c_prev.user) + (c.system - c_prev.system)) / max(1e-9, now - w_prev) * 100
            c_prev, w_prev = c, now
            text = screen() if k % 3 == 0 or now - t0 >= a.seconds else None
            live = None if text is None else ("● live" in text and "stopped" not in text)
            p = Point(now - t0, proc.memory_info().rss / 2**20, proc.num_fds(), proc.num_threads(), cpu, live)
            points.append(p)
            if k % 6 == 0:
                log(f"  {p.t:5.0f} s: RSS {p.rss_mb:.1f} MB, {p.fds} fds, {p.threads} threads, CPU {p.cpu_pct:.1f} %")
            k += 1
            if now - t0 >= a.seconds:
                break
            time.sleep(max(0.0, min(a.every, t0 + a.seconds - time.monotonic())))
        if child is not None:
            child.terminate()
        else:
            subprocess.run(["tmux", "-L", sock, "send-keys", "-t", "soak", "q"], capture_output=True)
        try:
            proc.wait(10)
        except psutil.TimeoutExpired:
            proc.kill()
    finally:
        churn.stop()
        traffic.stop()
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
        if sock in s.tmux_sockets:
            s.tmux_sockets.remove(sock)
    return {"lab": {"name": info.name, "containers": len(info.containers)}, "traffic_sent": traffic.sent,
            "churn_rounds": churn.rounds, "points": [asdict(p) for p in points]}


def main(argv: Optional[list[str]] = None) -> int:
    a = parse(argv)
    if a.run_feed:
        return run_feed(a.run_feed[0], a.run_feed[1], a.interval)
    if os.geteuid() != 0:
        print("bench.soak: needs root (it builds a lab in network namespaces)", file=sys.stderr)
        return 3
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    m = machine()
    log(f"machine: {one_line(m)}")
    started = time.monotonic()
    s = Session(log)
    try:
        run = soak(a, s, log)
    finally:
        problems = s.close()
    points = [Point(**p) for p in run["points"]]
    v = verdict(points, a.warmup)
    what = "the live feed alone (watcher, no TUI)" if a.feed_only else "vnet-tui --lab"
    head = (f"soak: {what} ({a.containers} containers, traffic, a veth churned every {a.churn:g} s) "
            f"for {a.seconds:.0f} s · {one_line(m)} · load {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print_table(points, v, head)
    doc = {"when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "machine": m,
           "options": vars(a), "seconds": round(time.monotonic() - started, 1), "verdict": v,
           "cleanup_problems": problems, **run}
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1)
    log(f"wrote {a.out}")
    return 1 if problems else (0 if v["flat"] else 2)


if __name__ == "__main__":
    sys.exit(main())
