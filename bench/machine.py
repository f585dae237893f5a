"""The machine a run measured: CPU, cores, memory, kernel, distribution, versions."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from importlib import metadata
from typing import Any


def _first(path: str, key: str) -> str:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1].strip()
    except OSError:
        pass
    return "?"


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out.splitlines()[0].strip() if out else "?"


def _iproute2() -> str:
    m = re.search(r"iproute2-([\w.]+)", _version(["ip", "-V"]))
    return m.group(1) if m else "?"


def _pkg(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def machine() -> dict[str, Any]:
    mem_kb = _first("/proc/meminfo", "MemTotal")
    return {
        "cpu": _first("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "memory_gb": round(int(mem_kb.split()[0]) / 1048576, 1) if mem_kb != "?" else None,
        "kernel": platform.release(),
        "os": _first("/etc/os-release", "PRETTY_NAME").strip('"'),
        "python": platform.python_version(),
        "iproute2": _iproute2(),
        "qemu": _version(["qemu-system-x86_64", "--version"]),
        "pyroute2": _pkg("pyroute2"),
        "textual": _pkg("textual"),
        "load_at_start": [round(x, 2) for x in os.getloadavg()],
        "namespaces_on_machine": len(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else 0,
    }


def one_line(m: dict[str, Any]) -> str:
    return (f"{m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB · {m['os']} · kernel {m['kernel']} · "
            f"Python {m['python']} · pyroute2 {m['pyroute2']} · Textual {m['textual']} · iproute2 {m['iproute2']}")
