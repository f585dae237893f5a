"""The guest's initramfs contents: ``/init``, busybox, the virtio modules, qemu-ga and its libraries.

Everything is taken from the unpacked packages (``dpkg -x``), except
qemu-ga's shared libraries, which come from the host as ``ldd`` finds
them.  Written into a ``Cpio`` archive.
"""

from __future__ import annotations

import gzip
import lzma
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from vnet_tui.guest import init_script

from .cpio import Cpio
from .packages import BUSYBOX_PKG, QGA_PKG, GuestImageError, Progress, _run, _tail


def _kernel_release(tree: Path) -> str:
    releases = [p.name for p in (tree / "lib" / "modules").iterdir() if p.is_dir()]
    if len(releases) != 1 or not (tree / "boot" / f"vmlinuz-{releases[0]}").is_file():
        raise GuestImageError(f"unexpected kernel package layout: modules for {releases or 'nothing'}")
    return releases[0]


def _add_base(archive: Cpio, tree: Path) -> None:
    for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "run", "tmp", "etc",
              "lib", "lib/modules", "lib64", "root"):
        archive.dir(d)
    archive.chardev("dev/console", 5, 1, 0o600)  # init's stdio, before devtmpfs is mounted
    archive.chardev("dev/null", 1, 3, 0o666)
    archive.file("init", init_script.render().encode(), 0o755)
    archive.file("sbin/shutdown", init_script.SHUTDOWN_SCRIPT.encode(), 0o755)
    archive.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
    archive.file("etc/group", b"root:x:0:\n", 0o644)
    busybox = tree / "bin" / "busybox"
    if not busybox.is_file():
        raise GuestImageError(f"{BUSYBOX_PKG} did not contain /bin/busybox")
    archive.file("bin/busybox", busybox.read_bytes(), 0o755)
    archive.symlink("bin/sh", "busybox")


def _add_modules(archive: Cpio, tree: Path, release: str) -> None:
    """The virtio modules, decompressed (busybox insmod may not read .ko.xz/.ko.zst)."""
    mdir = tree / "lib" / "modules" / release
    found: dict[str, Path] = {}
    for p in (mdir / "kernel").rglob("*.ko*"):
        stem = p.name.split(".ko")[0]
        if stem in init_script.MODULES:
            found[stem.replace("-", "_")] = p
    builtin_path = mdir / "modules.builtin"
    builtin = builtin_path.read_text() if builtin_path.is_file() else ""
    for name in init_script.MODULES:
        path = found.get(name)
        if path is None:
            if re.search(rf"/{re.escape(name)}\.ko\b", builtin):
                continue  # built in: the init script skips what isn't there
            raise GuestImageError(f"kernel {release} has no module {name} (neither file nor built in)")
        archive.file(f"{init_script.MODULE_DIR.strip('/')}/{name}.ko", _decompress(path), 0o644)


def _decompress(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".ko"):
        return data
    if path.name.endswith(".xz"):
        return lzma.decompress(data)
    if path.name.endswith(".gz"):
        return gzip.decompress(data)
    if path.name.endswith(".zst"):
        try:
            import zstandard  # type: ignore[import-not-found]  # optional: only where installed, only for .zst

            return zstandard.ZstdDecompressor().decompress(data, max_output_size=64 << 20)
        except ImportError:
            pass
        if shutil.which("zstd"):
            r = subprocess.run(["zstd", "-dc", str(path)], check=False, capture_output=True)
            if r.returncode == 0:
                return r.stdout
        raise GuestImageError(f"{path.name} is zstd-compressed: install the 'zstd' package")
    raise GuestImageError(f"unknown module compression: {path.name}")


_LDD_LINE = re.compile(r"^\s*(?:(\S+)\s+=>\s+)?(\S+|not found)\s*(?:\(0x[0-9a-f]+\))?\s*$")


def _add_qga(archive: Cpio, tree: Path, progress: Progress) -> None:
    """qemu-ga and the shared libraries it needs (taken from the host, as ``ldd`` finds them)."""
    qga = tree / init_script.QGA_BINARY.lstrip("/")
    if not qga.is_file():
        raise GuestImageError(f"{QGA_PKG} did not contain {init_script.QGA_BINARY}")
    archive.file(init_script.QGA_BINARY.lstrip("/"), qga.read_bytes(), 0o755)
    for target, source in _shared_libraries(qga):
        archive.file(target.lstrip("/"), Path(source).read_bytes(), 0o755)


def _shared_libraries(binary: Path) -> Iterator[tuple[str, str]]:
    """(path in the guest, file on the host) for every library ``ldd`` lists, plus the loader."""
    r = _run(["ldd", str(binary)])
    if r.returncode != 0:
        raise GuestImageError(f"ldd {binary.name} failed: {_tail(r.stderr or r.stdout)}")
    missing: list[str] = []
    for line in r.stdout.splitlines():
        m = _LDD_LINE.match(line)
        if not m or "linux-vdso" in line:
            continue
        soname, where = m.group(1), m.group(2)
        if where == "not found":
            missing.append(soname or line.strip())
        elif soname is None:  # the dynamic loader, listed by its absolute path
            yield where, os.path.realpath(where)
        else:
            yield f"/lib/x86_64-linux-gnu/{soname}", os.path.realpath(where)
    if missing:
        raise GuestImageError(
            "qemu-ga needs libraries this host lacks: " + ", ".join(missing)
            + " (apt-get install --no-install-recommends libglib2.0-0 libnuma1 libudev1 liburing2)"
        )
