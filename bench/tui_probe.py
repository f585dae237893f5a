"""One headless TUI session on a lab, measured from the inside (``python -m bench.tui_probe``).

It starts the app the way ``vnet-tui --lab NAME`` does (launch.run_tui:
fd limit, a Discoverer, the live Watcher at 1 s) but under Textual's
``run_test`` at a fixed size, then measures and prints one JSON line:

- ``first_paint_s``: from the parent's spawn time (``--t0``, wall clock)
  until every pane holds the rows it has room for, a sample is shown, and
  the screen has been refreshed with them: the end of the first screen
  update (``App._display``) made while all that held (``first_paint_cpu_s``:
  the process's CPU, every thread, until then).  ``first_paint_seen_s``:
  the probe's own view, as measured before 2026-12-01 evening: the refresh
  after it saw the screen complete, which can be a frame or two later (at
  5,000 containers a step of the fill that follows the first paint);
  ``all_rows_s``: until every pane holds all its rows (a big server's
  fill in after the first paint);
- ``keys_ms``: key press (down/up in the Containers pane, at random
  moments while counters stream) until the screen is refreshed
  (``key_latency``);
- ``changes_ms``: ``ip -n HOST link set VETH down`` (timed from before the
  spawn of ``ip``) until the Host pane shows the end as down and the
  screen is refreshed.  ``ip``'s own exit is not waited for: until
  2026-12-02 it was, first, and at 5,000 containers ``ip`` took 80-110 ms
  to exit, mostly after the screen showed the change
  (``changes_ip_exit_ms``: when it exited).  The end is set up again
  between samples, untimed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from typing import Any, Callable, Optional

from vnet_tui.core.server import Server
from vnet_tui.discovery.topology import Discoverer
from vnet_tui.live.watcher import Watcher
from vnet_tui.ui.app import VnetApp
from vnet_tui.ui.launch import raise_fd_limit

from .common import IP

SIZE = (200, 50)


async def until(cond: Callable[[], Any], timeout: float, step: float = 0.002) -> bool:
    deadline = time.perf_counter() + timeout
    while not cond():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(step)
    return True


def filled(app: VnetApp, want: dict[str, int]) -> bool:
    """Every pane holds all its rows, and a sample is shown."""
    if not app.loaded:
        return False
    return all(app.main.pane(p).row_count >= n for p, n in want.items())


def screen_full(app: VnetApp, want: dict[str, int]) -> bool:
    """What the operator sees is complete: every pane holds as many rows as it has room for (or all
    it has), and a sample is shown — a big server's panes fill in the rest after (ui/main.py)."""
    if not app.loaded:
        return False
    for p, n in want.items():
        pane = app.main.pane(p)
        room = max(1, pane.size.height - (pane.header_height if pane.show_header else 0))
        if pane.row_count < min(n, room):
            return False
    return True


def paint_watch(app: VnetApp, want: dict[str, int]) -> list[float]:
    """[wall time, CPU s] at the end of the first screen update made while ``screen_full`` held: the
    refresh that first drew the complete screen (the UI thread makes every update; nothing changes
    between the update's making and its display)."""
    painted: list[float] = []
    display = app._display

    def _display(screen: Any, renderable: Any) -> None:
        display(screen, renderable)
        if not painted and renderable is not None and screen_full(app, want):
            t = os.times()
            painted.extend((time.time(), t.user + t.system))

    app._display = _display  # type: ignore[method-assign]
    return painted


async def probe(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    want = json.loads(args.expect)
    raise_fd_limit()
    server = Server(lab=args.lab)
    discoverer = Discoverer(server)
    feed = Watcher(server, interval=1.0, discoverer=lambda _s: discoverer)
    app = VnetApp(feed)
    painted = paint_watch(app, want)
    try:
        async with app.run_test(size=SIZE) as pilot:
            ok = await until(lambda: screen_full(app, want), args.timeout, step=0.005)
            await app.screen.wait_for_refresh()
            out["first_paint_seen_s"] = time.time() - args.t0 if ok else None
            if ok and painted:
                out["first_paint_s"] = painted[0] - args.t0
                out["first_paint_cpu_s"] = painted[1]  # this process's CPU until then (all threads)
            else:
                out["first_paint_s"] = None
            ok = ok and await until(lambda: filled(app, want), args.timeout, step=0.005)
            await app.screen.wait_for_refresh()
            out["all_rows_s"] = time.time() - args.t0 if ok else None
            out["rows"] = {p: app.main.pane(p).row_count for p in want}
            if not ok:
                return out
            rnd = random.Random(1)
            if args.keys:
                pane = app.main.pane("containers")
                pane.focus()
                await asyncio.sleep(1.5)  # counters streaming at 1 s
                keys, moved = [], 0
                for i in range(args.keys):
                    await asyncio.sleep(rnd.uniform(0.05, 0.3))
                    ms = await key_latency(app, pilot, pane, "down" if (i // 2) % 2 == 0 else "up")
                    if ms is not None:
                        keys.append(ms)
                        moved += 1
                out["keys_ms"], out["keys_moved"] = keys, moved
            if args.changes:
                got = await changes(app, args, rnd)
                out["changes_ms"], out["changes_missed"], out["changes_ip_exit_ms"] = got
    finally:
        feed.stop()
        if feed.abandon():
            discoverer.close()
        else:
            feed.join(5)
    try:
        import psutil

        me = psutil.Process()
        out["rss_mb"] = me.memory_info().rss / 2**20
        t = me.cpu_times()
        out["cpu_s"] = t.user + t.system
    except ImportError:
        pass
    return out


async def key_latency(app: VnetApp, pilot: Any, pane: Any, key: str) -> Any:
    """ms from a key event entering the app until its effect is on screen.

    The event goes in as the terminal driver would send it (``pilot.press``
    adds its own idle waits of ~100 ms, which are not the app's).  Done =
    the cursor moved, every widget has handled what that caused (the
    detail pane follows the cursor), and the screen has been refreshed.
    """
    from textual import events

    before = pane.cursor_row
    t0 = time.perf_counter()
    ev = events.Key(key, None)
    ev.set_sender(app)
    app._driver.send_message(ev)
    if not await until(lambda: pane.cursor_row != before, 5.0, step=0.0005):
        return None
    await pilot._wait_for_screen()
    await app.screen.wait_for_refresh()
    return (time.perf_counter() - t0) * 1000


async def ip_async(*argv: str, done: Optional[list[float]] = None) -> None:
    """Run ``ip``; ``done`` gets the time it exited.  A failure raises (a sample must be a change made)."""
    p = await asyncio.create_subprocess_exec(IP, *argv, stdout=asyncio.subprocess.DEVNULL,
                                             stderr=asyncio.subprocess.DEVNULL)
    rc = await p.wait()
    if done is not None:
        done.append(time.perf_counter())
    if rc != 0:
        raise RuntimeError(f"ip {' '.join(argv)} failed ({rc})")


async def changes(app: VnetApp, args: argparse.Namespace,
                  rnd: random.Random) -> tuple[list[float], int, list[float]]:
    host = f"vl-{args.lab}-host"
    pane = app.main.pane("host")
    samples: list[float] = []
    ip_exit: list[float] = []
    missed = 0
    veths = args.veths.split(",")
    for i in range(args.changes):
        veth = veths[i % len(veths)]
        key = next((r.key for r in pane.rows_by_key.values() if r.name == veth), None)
        if key is None:
            missed += 1
            continue

        def state(key: str = key) -> str:
            try:
                return pane.get_cell(key, "state").plain
            except Exception:
                return ""

        await asyncio.sleep(rnd.uniform(0.05, 0.4))  # at any moment relative to the sweeps
        t0 = time.perf_counter()
        exited: list[float] = []
        setting = asyncio.ensure_future(ip_async("-n", host, "link", "set", veth, "down", done=exited))
        seen = await until(lambda: state() == "down", 5.0)
        await app.screen.wait_for_refresh()
        if seen:  # ip's own exit, often later (80-110 ms at 5,000 containers), is not the TUI's to wait for
            samples.append((time.perf_counter() - t0) * 1000)
        else:
            missed += 1
        await setting
        ip_exit.append((exited[0] - t0) * 1000)
        await ip_async("-n", host, "link", "set", veth, "up")
        await until(lambda: state() != "down", 5.0)
    return samples, missed, ip_exit


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--lab", required=True)
    p.add_argument("--t0", type=float, required=True, help="the parent's time.time() at spawn")
    p.add_argument("--expect", required=True, help='rows per pane, JSON: {"host": N, ...}')
    p.add_argument("--keys", type=int, default=0)
    p.add_argument("--changes", type=int, default=0)
    p.add_argument("--veths", default="")
    p.add_argument("--timeout", type=float, default=60.0)
    args = p.parse_args()
    out = asyncio.run(probe(args))
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    os._exit(0)  # no slow interpreter teardown of thousands of objects


if __name__ == "__main__":
    sys.exit(main())
