"""nftables through libnftables (the library behind ``nft``), JSON in and out, in one namespace.

libnftables is what ``nft -j`` runs; calling it in-process (ctypes, as
Debian's ``python3-nftables`` does) saves a fork+exec per command and lets
the calling thread enter the port's namespace first (``entered``): the
library opens its netlink socket when the context is made, so a context
made inside a namespace talks to that namespace's nf_tables.  Without the
library, ``nft -j -f -`` runs as a child that enters the namespace first.

Commands are nftables' JSON schema (``libnftables-json(5)``): a list of
``{"add": {"chain": …}}`` / ``{"delete": …}`` / ``{"list": …}`` objects,
applied by the kernel as one transaction (all or nothing).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import subprocess
from typing import Any, Optional

from vnet_tui.net.netns import _setns, entered

NFT_CTX_DEFAULT = 0
NFT_CTX_OUTPUT_HANDLE = 1 << 3
NFT_CTX_OUTPUT_JSON = 1 << 4


class NftError(OSError):
    """nftables refused a command (the message is nft's own)."""


_lib: Any = None
_lib_tried = False


def _library() -> Any:
    global _lib, _lib_tried
    if not _lib_tried:
        _lib_tried = True
        name = ctypes.util.find_library("nftables") or "libnftables.so.1"
        try:
            lib = ctypes.CDLL(name, use_errno=True)
        except OSError:
            return None
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        _lib = lib
    return _lib


def available() -> bool:
    """Can nftables commands be run at all (library or ``nft`` binary)?"""
    return _library() is not None or shutil.which("nft") is not None


def _run_lib(lib: Any, fd: Optional[int], text: str) -> tuple[int, str, str]:
    def make() -> Any:
        return lib.nft_ctx_new(NFT_CTX_DEFAULT)

    if fd is None:
        ctx = make()
    else:
        with entered(fd):
            ctx = make()
    if not ctx:
        raise NftError(12, "nft_ctx_new failed")
    try:
        lib.nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE)
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        if fd is None:
            rc = lib.nft_run_cmd_from_buffer(ctx, text.encode())
        else:
            # the library may (re)open its socket lazily: run inside the namespace too
            with entered(fd):
                rc = lib.nft_run_cmd_from_buffer(ctx, text.encode())
        out = (lib.nft_ctx_get_output_buffer(ctx) or b"").decode()
        err = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode()
        return rc, out, err
    finally:
        lib.nft_ctx_free(ctx)


def _run_binary(fd: Optional[int], text: str) -> tuple[int, str, str]:
    """nft as a process of its own, in namespace ``fd`` (None: ours).

    The namespace is entered by ``nsenter`` on the inherited descriptor, not by Python code run in
    the child between fork and exec: that code (``preexec_fn``) makes the interpreter fork(), which
    copies the page tables of the whole process while this thread holds the interpreter lock (at
    5,000 containers, 200 MB and 10,000 sockets: the UI stood still for it on every policy read),
    and running Python in the child of a threaded process can deadlock.  Without it the child is
    made with vfork.  No nsenter: the old way.
    """
    if shutil.which("nft") is None:
        raise NftError(24, "nft: this process holds too many descriptors for libnftables (its select() "
                           "takes fds below 1024) and there is no nft binary to run instead")
    argv = ["nft", "-j", "-a", "-f", "-"]
    pre = None
    if fd is not None:
        nsenter = shutil.which("nsenter")
        if nsenter is not None:
            argv = [nsenter, f"--net=/proc/self/fd/{fd}", "--", *argv]
        else:
            def pre() -> None:  # in the child, before exec
                _setns(fd)
    p = subprocess.run(argv, input=text, capture_output=True, text=True,
                       pass_fds=(fd,) if fd is not None else (), preexec_fn=pre)
    return p.returncode, p.stdout, p.stderr


# libnftables talks to the kernel through libmnl, which waits with select(2): a socket it opens at
# or past FD_SETSIZE (1024) makes glibc abort the whole process ("bit out of range 0 - FD_SETSIZE").
# The TUI of a 1,000-container server holds more descriptors than that (a socket per namespace), so
# there nft runs as a process of its own (a fresh descriptor table); the library only with room.
FD_ROOM = 1000


def _low_fds_free() -> bool:
    """Would a socket opened now get a descriptor well below FD_SETSIZE (the lowest free one)?"""
    probe = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    os.close(probe)
    return probe < FD_ROOM


def run(fd: Optional[int], commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run JSON commands in namespace ``fd`` (None: ours); the ``nftables`` list of the answer."""
    text = json.dumps({"nftables": commands})
    lib = _library() if _low_fds_free() else None
    rc, out, err = _run_lib(lib, fd, text) if lib is not None else _run_binary(fd, text)
    if rc != 0:
        msg = err.strip().splitlines()
        raise NftError(_errno_from(err), "nft: " + (msg[0] if msg else f"failed ({rc})"))
    if not out.strip():
        return []
    return list(json.loads(out).get("nftables", []))


def _errno_from(err: str) -> int:
    low = err.lower()
    if "no such file" in low:
        return 2
    if "exists" in low:
        return 17
    if "operation not permitted" in low:
        return 1
    return 22


def list_table(fd: Optional[int], family: str, table: str) -> Optional[list[dict[str, Any]]]:
    """The table's chains and rules (with counters and handles), or None when there is no table."""
    try:
        return run(fd, [{"list": {"table": {"family": family, "name": table}}}])
    except NftError as e:
        if e.errno == 2:
            return None
        raise


