"""A ``newc`` cpio archive written in memory: the format the kernel unpacks as an initramfs."""

from __future__ import annotations

import io
import stat


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
