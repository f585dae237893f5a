"""The benchmark runs end to end at a tiny size, so it never rots (no timing is asserted).

`python -m bench --containers 5 --vms 1 --quick`: every figure of the
table is present with a measured, finite, positive value, the baselines
beside it have ratios, the JSON describes the machine, and the run left
nothing behind (the suite guard checks namespaces and QEMU too).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIGURES = {
    "sweep_cpu", "sweep_floor", "sweep_wall", "sweep_scaling", "discovery", "ns_scan", "tui_first_paint", "tui_cpu", "tui_key",
    "tui_change", "tui_rss", "ops_add", "policy_add", "policy_sweep", "journal_history", "lab_up", "lab_down",
}
WITH_BASELINES = {"sweep_cpu": 4, "sweep_floor": 1, "sweep_wall": 4, "sweep_scaling": 1, "discovery": 1, "ns_scan": 2, "ops_add": 1,
                  "policy_add": 1, "policy_sweep": 1, "journal_history": 2, "lab_up": 1, "lab_down": 1}

pytestmark = [pytest.mark.live, pytest.mark.qemu, pytest.mark.timeout(300)]


def finite_positive(v: object) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v) and v > 0


def test_bench_runs_at_five_containers(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    r = subprocess.run(
        [sys.executable, "-m", "bench", "--containers", "5", "--vms", "1", "--quick", "--settle", "0",
         "--stream-seconds", "2", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=280, env={**os.environ, "COLUMNS": "200"},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    for head in ("figure", "ours", "target", "baseline(s), same run", "ratio", "pass/fail"):
        assert head in r.stdout
    doc = json.loads(out.read_text())
    assert not doc["cleanup_problems"]
    m = doc["machine"]
    assert m["cores"] >= 1 and m["kernel"] and m["python"] and m["cpu"]
    figs = {f["key"]: f for f in doc["figures"]}
    assert set(figs) == FIGURES
    for key, f in figs.items():
        assert finite_positive(f["ours"]), (key, f["ours"])
        assert f["samples"] and all(finite_positive(x) for x in f["samples"]), key
        assert f["passed"] in (True, False, None)
        if f["target"] is not None:
            assert f["passed"] in (True, False), key
    for key, n in WITH_BASELINES.items():
        bs = figs[key]["baselines"]
        assert len(bs) == n, key
        for b in bs:
            assert finite_positive(b["value"]), (key, b["name"])
            floor = key in ("sweep_scaling", "sweep_floor") or b["name"].startswith("floor:")
            assert finite_positive(b["ratio"]) or floor, (key, b["name"])  # a floor has no ratio
    # what the figures measured is what the lab holds
    sweep = figs["sweep_cpu"]["detail"]
    assert sweep["namespaces"] == 6 and sweep["ends"] >= 2 * 5 + 1
    assert figs["discovery"]["detail"]["complete"]
    assert figs["tui_first_paint"]["detail"]["expected_rows"]["containers"] == 5
    assert figs["tui_key"]["detail"]["count"] > 0 and figs["tui_change"]["detail"]["count"] > 0
    points = figs["sweep_scaling"]["detail"]["points"]
    assert [p["containers"] for p in points] == [1, 5]
    # the Markdown table the README section is made from
    assert doc["markdown"].count("\n") >= len(FIGURES)
