"""A change as the operator would type it: the ``ip`` / ``sysctl`` command for --dry-run and previews."""

from __future__ import annotations

from typing import Optional


def ip_command(label: Optional[str], *words: str) -> str:
    """``ip [-n NS] …`` as an operator would type it; a path label goes through nsenter."""
    if label and label.startswith("/"):
        return " ".join(["nsenter", f"--net={label}", "ip"] + list(words))
    return " ".join(["ip"] + (["-n", label] if label else []) + list(words))


def sysctl_command(label: Optional[str], path: str, value: str) -> str:
    """``sysctl -w net/…=V`` inside the namespace (slashes: interface names may hold dots)."""
    cmd = f"sysctl -w net/{path}={value}"
    if label and label.startswith("/"):
        return f"nsenter --net={label} {cmd}"
    return f"ip netns exec {label} {cmd}" if label else cmd
