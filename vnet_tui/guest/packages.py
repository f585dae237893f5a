"""The guest's Debian packages: the cloud kernel, busybox and qemu-ga, fetched with apt.

``apt-get download`` into a work directory, running ``apt-get update``
first only when apt cannot find or fetch them; nothing is installed on
the host.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from vnet_tui.core.errors import VnetError

KERNEL_META = "linux-image-cloud-amd64"
BUSYBOX_PKG = "busybox-static"
QGA_PKG = "qemu-guest-agent"

Progress = Callable[[str], None]


class GuestImageError(VnetError):
    """The guest image could not be fetched or built; the message says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message, rule="guest-image", code=1)


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=False, capture_output=True, text=True, **kw)  # type: ignore[call-overload]


def _need_tools() -> None:
    missing = [t for t in ("apt-get", "apt-cache", "dpkg", "dpkg-deb", "ldd") if shutil.which(t) is None]
    if missing:
        raise GuestImageError(
            "building the lab guest needs a Debian/Ubuntu host with apt and dpkg; missing: " + ", ".join(missing)
        )


def _apt_update(progress: Progress, why: str) -> None:
    if os.geteuid() != 0:
        raise GuestImageError(f"cannot fetch the guest's packages ({why}); 'apt-get update' may help but needs root")
    progress("apt-get update…")
    r = _run(["apt-get", "update", "-qq"], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if r.returncode != 0:
        raise GuestImageError("apt-get update failed: " + _tail(r.stderr))


def _kernel_package() -> str | None:
    """``linux-image-cloud-amd64`` → ``linux-image-<release>-cloud-amd64`` (None when apt doesn't know it)."""
    r = _run(["apt-cache", "depends", "--no-recommends", "--no-suggests", KERNEL_META])
    for line in r.stdout.splitlines():
        m = re.match(r"\s*Depends:\s*(linux-image-\S+)", line)
        if m:
            return m.group(1)
    return None


def _download(packages: list[str], into: Path) -> subprocess.CompletedProcess[str]:
    # As root apt drops to _apt for downloads; that user can't write our private work dir.
    sandbox = ["-o", "APT::Sandbox::User=root"] if os.geteuid() == 0 else []
    return _run(["apt-get", "download", "-q", *sandbox, *packages], cwd=into)


def _fetch(work: Path, progress: Progress) -> list[Path]:
    """Download the three packages into ``work``; ``apt-get update`` only when that fails."""
    updated = False
    while True:
        kpkg = _kernel_package()
        if kpkg is not None:
            wanted = [kpkg, BUSYBOX_PKG, QGA_PKG]
            progress("downloading " + ", ".join(wanted) + "…")
            r = _download(wanted, work)
            if r.returncode == 0:
                debs = sorted(work.glob("*.deb"))
                if len(debs) == len(wanted):
                    return debs
            why = _tail(r.stderr) or "apt-get download produced no packages"
        else:
            why = f"apt does not know {KERNEL_META}"
        if updated:
            raise GuestImageError(f"cannot fetch the guest's packages ({why}); check apt's sources and network")
        for d in work.glob("*.deb"):
            d.unlink()
        _apt_update(progress, why)
        updated = True


def _deb_field(deb: Path, name: str) -> str:
    r = _run(["dpkg-deb", "-f", str(deb), name])
    return r.stdout.strip()


def _tail(text: str, lines: int = 3) -> str:
    return " / ".join(line.strip() for line in text.strip().splitlines()[-lines:])
