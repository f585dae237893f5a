"""Discovery end to end: ``vnet-tui show --lab NAME --json`` as an operator runs it.

Wall time from spawning the command to its exit (interpreter start,
imports, every namespace opened and dumped, pairing, QMP, JSON printed),
beside ``ip -j -n NS link`` + ``ip -j -n NS addr`` for every namespace —
which gives less (no pairing, no VMs, no owners) and is still slower.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Callable

from vnet_tui.lab import LabInfo

from . import baselines
from .common import Figure, measure, median
from .sweep import lab_namespaces

TARGET_S, TARGET_5000_S = 2.0, 3.0  # issue 6 at 1,000 containers; issue 14 past 1,000 (at 5,000)


def show_json(lab: str) -> tuple[float, float, dict]:
    """(wall s, CPU s) of one ``show --json`` and what it printed."""
    cmd = [sys.executable, "-m", "vnet_tui", "show", "--lab", lab, "--json"]
    cost, out = measure(lambda: subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    return cost.wall_ms / 1000, cost.cpu_ms / 1000, json.loads(out)


def figure(info: LabInfo, repeat: int, baseline_repeat: int, log: Callable[[str], None]) -> Figure:
    walls, cpus = [], []
    shown: dict = {}
    for _ in range(max(1, repeat)):
        w, c, shown = show_json(info.name)
        walls.append(w)
        cpus.append(c)
    cts, vms = len(shown.get("containers", [])), len(shown.get("vms", []))
    paired = sum(1 for c in shown.get("containers", []) for i in c.get("interfaces", [])
                 if i.get("peer") and i.get("kind") != "loopback")
    target = TARGET_S if len(info.containers) <= 1000 else TARGET_5000_S
    log(f"  show --json: {median(walls):.2f} s wall, {median(cpus):.2f} s CPU "
        f"({cts} containers, {vms} VMs, {paired} guest ends paired)")
    fig = Figure("discovery", "discovery: show --json end to end (wall)", median(walls), "s", target,
                 f"≤ {target:g} s", samples=walls,
                 detail={"cpu_s_median": median(cpus), "containers": cts, "vms": vms, "paired_guest_ends": paired,
                         "complete": cts == len(info.containers) and vms == len(info.vms)
                         and paired == len(info.containers)})
    cpu_b, wall_b = baselines.ip_link_addr_loop(lab_namespaces(info), baseline_repeat, log)
    for b in (wall_b,):
        b.value, b.unit = b.value / 1000, "s"
        b.samples = [x / 1000 for x in b.samples]
        fig.ratio_against(b)
    fig.baselines = [wall_b]
    fig.detail["baseline_cpu_s"] = cpu_b.value / 1000
    return fig
