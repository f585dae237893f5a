"""A minimal Linux guest for lab VMs: Debian's cloud kernel + a busybox/qemu-ga initramfs.

``ensure_image()`` builds it once into a cache directory and then returns
it in about a millisecond.  Building needs only ``apt-get``/``apt-cache``,
``dpkg`` (for ``dpkg -x``) and ``ldd``; nothing is installed on the host.
The cpio archive and its gzip compression are made here in Python.

Steps: resolve ``linux-image-cloud-amd64`` to its versioned package →
``apt-get download`` it with ``busybox-static`` and ``qemu-guest-agent``
(running ``apt-get update`` first only if apt can't find or fetch them) →
``dpkg -x`` into a work directory → keep ``vmlinuz``, build the initramfs
(``/init``, busybox, the virtio modules uncompressed, qemu-ga plus the
shared libraries ``ldd`` names) → write both to the cache atomically.

Here: the cache, its lock and the build's order; the parts are
``packages`` (apt), ``initramfs`` (what goes in) and ``cpio`` (the archive).

Cache directory: ``$VNET_TUI_CACHE`` if set, else ``/var/cache/vnet-tui/guest``.
Run ``python -m vnet_tui.guest.image`` to prefetch it.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from vnet_tui.guest import init_script

from .cpio import Cpio
from .initramfs import _add_base, _add_modules, _add_qga, _kernel_release
from .packages import (  # re-exported: callers and tests import them from here
    BUSYBOX_PKG,
    KERNEL_META,
    QGA_PKG,
    GuestImageError,
    Progress,
    _deb_field,
    _download,
    _fetch,
    _need_tools,
    _run,
    _tail,
)

__all__ = ["BUSYBOX_PKG", "KERNEL_META", "QGA_PKG", "Cpio", "GuestImage", "GuestImageError", "Progress",
           "cache_dir", "build_key", "ensure_image", "main", "_download"]

CACHE_ENV = "VNET_TUI_CACHE"
DEFAULT_CACHE = Path("/var/cache/vnet-tui/guest")
# Bump when the initramfs layout changes in a way the init script's hash does not show.
BUILD_FORMAT = 1


@dataclass(frozen=True)
class GuestImage:
    """A bootable guest: pass ``kernel`` to ``-kernel`` and ``initrd`` to ``-initrd``."""

    kernel: Path
    initrd: Path
    version: str  # the kernel release, e.g. "6.1.0-56-cloud-amd64"
    packages: dict[str, str] = field(default_factory=dict, compare=False)  # package → version used


def cache_dir() -> Path:
    """Where images are kept: ``$VNET_TUI_CACHE`` or ``/var/cache/vnet-tui/guest``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else DEFAULT_CACHE


def build_key() -> str:
    """Identifies what the builder puts in the initramfs (not which packages)."""
    h = hashlib.sha256()
    h.update(f"format={BUILD_FORMAT}\n".encode())
    h.update(init_script.render().encode())
    h.update(init_script.SHUTDOWN_SCRIPT.encode())
    return h.hexdigest()[:12]


def ensure_image(progress: Progress = lambda s: None, *, refresh: bool = False) -> GuestImage:
    """Return the cached guest image, building it first if needed.

    ``refresh=True`` rebuilds even when a usable image is cached (to pick
    up a newer kernel).  Raises ``GuestImageError`` with a readable reason.
    """
    root = cache_dir()
    if not refresh:
        image = _cached(root)
        if image is not None:
            return image
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = open(root / ".lock", "w")
    except OSError as e:
        raise GuestImageError(f"cannot use the guest cache {root}: {e.strerror} (set ${CACHE_ENV}?)") from e
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"waiting for another build of the guest image in {root}…")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if not refresh:  # someone else may have built it while we waited
            image = _cached(root)
            if image is not None:
                return image
        return _build(root, progress)


def _cached(root: Path) -> GuestImage | None:
    try:
        meta = json.loads((root / "current.json").read_text())
    except (OSError, ValueError):
        return None
    if meta.get("key") != build_key():
        return None
    kernel, initrd = root / meta["kernel"], root / meta["initrd"]
    if not (kernel.is_file() and initrd.is_file()):
        return None
    return GuestImage(kernel, initrd, meta["version"], dict(meta.get("packages", {})))


# ---------------------------------------------------------------- build


def _build(root: Path, progress: Progress) -> GuestImage:
    _need_tools()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=".work-", dir=root) as tmp:
        work = Path(tmp)
        dl, tree = work / "debs", work / "root"
        dl.mkdir()
        tree.mkdir()
        debs = _fetch(dl, progress)
        packages = {_deb_field(d, "Package"): _deb_field(d, "Version") for d in debs}
        progress("unpacking…")
        for deb in debs:
            r = _run(["dpkg", "-x", str(deb), str(tree)])
            if r.returncode != 0:
                raise GuestImageError(f"dpkg -x {deb.name} failed: {_tail(r.stderr)}")
        release = _kernel_release(tree)
        progress(f"building the initramfs for {release}…")
        archive = Cpio()
        _add_base(archive, tree)
        _add_modules(archive, tree, release)
        _add_qga(archive, tree, progress)
        initrd = gzip.compress(archive.finish(), compresslevel=6, mtime=0)

        key = build_key()
        name = f"{release}-{key}"
        final = root / name
        stage = work / "out"
        stage.mkdir()
        shutil.copyfile(tree / "boot" / f"vmlinuz-{release}", stage / "vmlinuz")
        (stage / "initrd.img").write_bytes(initrd)
        if final.exists():
            shutil.rmtree(final)
        os.replace(stage, final)
    meta = {
        "version": release,
        "kernel": f"{name}/vmlinuz",
        "initrd": f"{name}/initrd.img",
        "key": key,
        "packages": packages,
        "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    tmp_meta = root / "current.json.tmp"
    tmp_meta.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(tmp_meta, root / "current.json")
    _prune(root, keep=name)
    image = _cached(root)
    assert image is not None
    progress(f"guest image ready in {time.monotonic() - t0:.1f} s: {image.kernel}, {image.initrd}")
    return image


def _prune(root: Path, keep: str) -> None:
    """Remove older builds (QEMU reads kernel and initrd at start, so running VMs don't mind)."""
    for p in root.iterdir():
        # only our own build directories (the cache may be shared with other things)
        if p.name != keep and re.fullmatch(r".+-[0-9a-f]{12}", p.name) and (p / "initrd.img").is_file():
            shutil.rmtree(p, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m vnet_tui.guest.image [--refresh]``: build (or reuse) the cache and print the paths."""
    args = sys.argv[1:] if argv is None else argv
    t0 = time.monotonic()
    try:
        image = ensure_image(lambda s: print(s, file=sys.stderr), refresh="--refresh" in args)
    except GuestImageError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    print(f"kernel  {image.kernel}")
    print(f"initrd  {image.initrd}  ({image.initrd.stat().st_size / 1e6:.1f} MB)")
    print(f"version {image.version}")
    for pkg, ver in sorted(image.packages.items()):
        print(f"package {pkg} {ver}")
    print(f"took    {time.monotonic() - t0:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
