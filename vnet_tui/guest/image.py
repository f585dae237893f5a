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

Cache directory: ``$VNET_TUI_CACHE`` if set, else ``/var/cache/vnet-tui/guest``.
Run ``python -m vnet_tui.guest.image`` to prefetch it.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import io
import json
import lzma
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vnet_tui.core.errors import VnetError
from vnet_tui.guest import init_script

CACHE_ENV = "VNET_TUI_CACHE"
DEFAULT_CACHE = Path("/var/cache/vnet-tui/guest")
KERNEL_META = "linux-image-cloud-amd64"
BUSYBOX_PKG = "busybox-static"
QGA_PKG = "qemu-guest-agent"
# Bump when the initramfs layout changes in a way the init script's hash does not show.
BUILD_FORMAT = 1

Progress = Callable[[str], None]


class GuestImageError(VnetError):
    """The guest image could not be fetched or built; the message says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message, rule="guest-image", code=1)


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


# ---------------------------------------------------------------- apt + dpkg


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
            import zstandard  # type: ignore[import-not-found]

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


# ---------------------------------------------------------------- cpio (newc)


class Cpio:
    """A ``newc`` cpio archive in memory: what the kernel unpacks as an initramfs."""

    def __init__(self) -> None:
        self._out = io.BytesIO()
        self._ino = 1
        self._dirs: set[str] = set()

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        self._parents(name)
        fields = (self._ino, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, 0, len(data), 0, 0, *rdev,
                  len(name) + 1, 0)
        self._ino += 1
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        self._out.write(header + name.encode() + b"\0")
        self._pad()
        self._out.write(data)
        self._pad()

    def _pad(self) -> None:
        self._out.write(b"\0" * (-self._out.tell() % 4))

    def _parents(self, name: str) -> None:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            self.dir("/".join(parts[:i]))

    def dir(self, name: str, perm: int = 0o755) -> None:
        if name not in self._dirs and name != "TRAILER!!!":
            self._dirs.add(name)
            self._entry(name, stat.S_IFDIR | perm)

    def file(self, name: str, data: bytes, perm: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | perm, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name: str, major: int, minor: int, perm: int = 0o600) -> None:
        self._entry(name, stat.S_IFCHR | perm, rdev=(major, minor))

    def finish(self) -> bytes:
        self._dirs.add("TRAILER!!!")
        fields = (0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, len("TRAILER!!!") + 1, 0)
        self._out.write(b"070701" + b"".join(b"%08X" % f for f in fields) + b"TRAILER!!!\0")
        self._pad()
        return self._out.getvalue()


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
