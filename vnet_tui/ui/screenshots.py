"""`python -m vnet_tui.ui.screenshots DIR`: SVGs of the running app on a lab with a fixed seed.

Builds lab ``shots`` (3 containers, 2 VMs, seed 1), runs the demo traffic
for a while so counters and sparklines move, and writes ``main.svg``
(the three panes and the selected adapter), ``detail.svg`` (enter on it)
and ``help.svg`` (``?``) at 120×40, then ``main-80x24.svg``, ``add-80x24.svg`` (the add
form) and ``edit-80x24.svg`` (the edit form, its policy section below) at 80×24.  ct101's
eth0 gets a policy first (a rate limit and the MAC filter), so the detail shows one.  The
lab, and the journal the policy was written to (a temporary state directory), are removed
afterwards.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

LAB = "shots"
SIZE = (120, 40)
SMALL = (80, 24)
WARMUP = 12.0  # seconds of traffic before the first picture


async def take(out: Path, warmup: float = WARMUP) -> list[Path]:
    from vnet_tui.core.server import Server
    from vnet_tui.live.watcher import Watcher

    from .app import VnetApp

    feed = Watcher(Server(lab=LAB), interval=1.0)
    app = VnetApp(feed)
    written = []
    async with app.run_test(size=SIZE) as pilot:
        deadline = time.monotonic() + warmup
        while time.monotonic() < deadline or not app.loaded:
            await pilot.pause(0.2)
        for name, keys in (("main.svg", ()), ("detail.svg", ("enter",)), ("help.svg", ("escape", "question_mark"))):
            await pilot.press(*keys)
            await pilot.pause(0.3)
            written.append(Path(app.save_screenshot(name, str(out))))
        await pilot.press("escape")
        await pilot.resize_terminal(*SMALL)  # an operator's SSH window
        await pilot.pause(0.5)
        for name, keys in (("main-80x24.svg", ()), ("add-80x24.svg", ("a",)), ("edit-80x24.svg", ("escape", "e"))):
            await pilot.press(*keys)
            await pilot.pause(0.5)
            written.append(Path(app.save_screenshot(name, str(out))))
        await pilot.press("escape")
    feed.stop()
    feed.join(5)
    return written


def main(argv: list[str]) -> int:
    import os
    import tempfile

    from vnet_tui.core.server import Server
    from vnet_tui.demo.traffic import Traffic
    from vnet_tui.lab import down, exists, up
    from vnet_tui.txn.api import edit_adapter
    from vnet_tui.ops.requests import SetRequest

    if len(argv) != 1:
        print("usage: python -m vnet_tui.ui.screenshots DIR", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    if exists(LAB):
        down(LAB)
    state = tempfile.TemporaryDirectory(prefix="vnet-tui-shots-")
    os.environ["VNET_TUI_STATE"] = state.name  # the policy's journal entry is not the operator's
    info = up(LAB, containers=3, vms=2, seed=1)
    traffic = Traffic(info)
    try:
        edit_adapter(Server(lab=LAB), SetRequest("ct101", "eth0", rate_in="100mbit", mac_filter="on"))
        traffic.start()
        for p in asyncio.run(take(out)):
            print(p)
    finally:
        traffic.stop()
        down(LAB)
        state.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
