"""What every figure group shares: figures and baselines, statistics, timing, ip calls.

A ``Figure`` is one row of the table: our median, its target, the
baselines measured beside it in the same run, and their ratios.  Ratios
are always "how many times cheaper ours is" (baseline / ours), so bigger
is better whatever the unit.
"""

from __future__ import annotations

import json
import math
import os
import resource
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "ip"


@dataclass
class Baseline:
    """Something slower measured beside our figure; ``ratio`` = value / ours."""

    name: str
    value: float
    unit: str
    ratio: Optional[float] = None
    ratio_target: Optional[float] = None  # ours must be at least this many times cheaper
    samples: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def ratio_ok(self) -> Optional[bool]:
        if self.ratio_target is None:
            return None
        return self.ratio is not None and self.ratio >= self.ratio_target


@dataclass
class Figure:
    """One row of the table."""

    key: str
    name: str
    ours: Optional[float]
    unit: str
    target: Optional[float]  # None: no absolute target (judged by ``check`` or the ratios)
    target_text: str
    stat: str = "median"  # median | p50 | p95 | max
    samples: list[float] = field(default_factory=list)
    baselines: list[Baseline] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    check: Optional[bool] = None  # a pass/fail decided by the group (e.g. linear growth)

    def ratio_against(self, b: Baseline) -> None:
        if self.ours and self.ours > 0 and b.value > 0:
            b.ratio = b.value / self.ours

    @property
    def passed(self) -> Optional[bool]:
        """Target met and every ratio target met (None: nothing to judge)."""
        verdicts: list[bool] = []
        if self.target is not None:
            verdicts.append(self.ours is not None and self.ours <= self.target)
        if self.check is not None:
            verdicts.append(self.check)
        verdicts += [b.ratio_ok for b in self.baselines if b.ratio_ok is not None]
        return all(verdicts) if verdicts else None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Figure":
        """A figure as latest.json holds it (to print or re-render a past run)."""
        d = {k: v for k, v in d.items() if k != "passed"}
        bs = [Baseline(**{k: v for k, v in b.items() if k != "ratio_ok"}) for b in d.pop("baselines", [])]
        return cls(**d, baselines=bs)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed
        for b, bd in zip(self.baselines, d["baselines"]):
            bd["ratio_ok"] = b.ratio_ok
        return d


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else math.nan


def pct(xs: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0–100)."""
    if not xs:
        return math.nan
    s = sorted(xs)
    k = max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))
    return s[k]


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


@dataclass
class Cost:
    """CPU (this process + waited-for children) and wall time of one run, in ms."""

    cpu_ms: float
    wall_ms: float
    self_cpu_ms: float = 0.0
    child_cpu_ms: float = 0.0


def measure(fn: Callable[[], Any]) -> tuple[Cost, Any]:
    """Run ``fn`` once; its CPU (ours + children's) and wall time."""
    c0, k0, w0 = time.process_time(), children_cpu(), time.perf_counter()
    out = fn()
    w1, c1, k1 = time.perf_counter(), time.process_time(), children_cpu()
    own, kids = (c1 - c0) * 1000, (k1 - k0) * 1000
    return Cost(own + kids, (w1 - w0) * 1000, own, kids), out


def ip(*args: str, stdin: Optional[str] = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``ip ARGS`` (never in our own namespace unless the caller says -n)."""
    return subprocess.run([IP, *args], input=stdin, capture_output=True, text=True, check=check)


def ip_json(*args: str) -> Any:
    out = ip("-j", *args).stdout
    return json.loads(out or "[]")


def settle(max_wait: float = 20.0, busy_below: float = 0.35, window: float = 0.5) -> float:
    """Wait until the kernel's and everyone's CPU use drops (a lab just built keeps
    kworkers busy with IPv6 DAD/MLD for a while); returns the seconds waited.

    ``busy_below`` is the share of the whole machine (all cores) still busy.
    """
    t0 = time.monotonic()

    def busy() -> float:
        with open("/proc/stat") as f:
            a = [int(x) for x in f.readline().split()[1:]]
        time.sleep(window)
        with open("/proc/stat") as f:
            b = [int(x) for x in f.readline().split()[1:]]
        d = [y - x for x, y in zip(a, b)]
        total = sum(d) or 1
        idle = d[3] + d[4]
        return 1 - idle / total

    while time.monotonic() - t0 < max_wait:
        if busy() < busy_below:
            break
    return time.monotonic() - t0


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()
