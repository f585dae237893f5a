"""Busybox root filesystems for container runtimes in tests, made locally (no image downloads).

``busybox()`` gives the path of a static busybox binary: Debian's
``busybox-static`` fetched once with ``apt-get download`` (as the lab's
guest image does, vnet_tui/guest/image.py) and unpacked with ``dpkg -x``
into a cache directory; nothing is installed on the host.

``make_rootfs(dir)`` lays out a minimal tree around it: ``/bin/busybox``
with the applets the tests use as symlinks, ``/usr`` and an
``os-release`` (systemd-nspawn refuses a directory without ``/usr``),
mount points for ``/proc``, ``/sys``, ``/dev``, ``/tmp``, ``/run``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from vnet_tui.guest.image import BUSYBOX_PKG, _download

CACHE = Path(os.environ.get("VNET_TUI_BUSYBOX_CACHE", "/var/cache/vnet-tui/busybox"))
APPLETS = ("sh", "sleep", "ip", "hostname", "cat", "ls", "ps", "mount", "init", "true", "echo")


def busybox() -> Path:
    """A static busybox binary, downloaded once into the cache (a lock keeps parallel runs apart)."""
    exe = CACHE / "busybox"
    if exe.is_file() and os.access(exe, os.X_OK):
        return exe
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if exe.is_file():
            return exe
        with tempfile.TemporaryDirectory(prefix=".work-", dir=CACHE) as tmp:
            r = _download([BUSYBOX_PKG], Path(tmp))
            debs = list(Path(tmp).glob("*.deb"))
            if r.returncode != 0 or not debs:
                subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
                r = _download([BUSYBOX_PKG], Path(tmp))
                debs = list(Path(tmp).glob("*.deb"))
            if not debs:
                raise RuntimeError(f"apt-get download {BUSYBOX_PKG} failed: {r.stderr.strip()[-300:]}")
            subprocess.run(["dpkg", "-x", str(debs[0]), f"{tmp}/x"], check=True)
            staged = Path(tmp) / "busybox"
            shutil.copyfile(f"{tmp}/x/bin/busybox", staged)
            staged.chmod(0o755)
            os.replace(staged, exe)
    return exe


def make_rootfs(root: Path, hostname: str = "busybox") -> Path:
    """A minimal busybox tree at ``root`` (created); returns ``root``."""
    for d in ("bin", "sbin", "usr/bin", "usr/lib", "etc", "proc", "sys", "dev", "tmp", "run", "root", "var"):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(busybox(), root / "bin" / "busybox")
    (root / "bin" / "busybox").chmod(0o755)
    for applet in APPLETS:
        link = root / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    if not (root / "sbin" / "init").exists():
        (root / "sbin" / "init").symlink_to("../bin/busybox")
    (root / "usr/lib/os-release").write_text('ID=busybox\nNAME="busybox"\n')
    (root / "etc/os-release").write_text('ID=busybox\nNAME="busybox"\n')
    (root / "etc/hostname").write_text(hostname + "\n")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\n")
    return root
