"""One adapter's host end, opened for reading and changing its policy.

A ``Port`` is a namespace (a name under ``/run/netns``, an absolute nsfs
path, an fd the caller keeps, or None for our own) plus the host end's
interface name.  Its pyroute2 socket is made *inside* the namespace by
entering it from this thread (never ``IPRoute(netns=…)``, which forks);
nftables runs there through libnftables (``policy.nft``).  Every change
passes the project's fault-injection checkpoint first (``net.faults.faults``),
so ``VNET_TUI_FAULT`` and ``faults.armed`` fail policy steps too.
"""

from __future__ import annotations

import os
import shlex
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, Union

from vnet_tui.core.errors import NotFound
from vnet_tui.net.faults import faults
from vnet_tui.net.netns import NetnsError, entered, open_netns

from . import nft
from .nlread import Reader, ifindex

if TYPE_CHECKING:
    from pyroute2 import IPRoute

T = TypeVar("T")
Where = Union[str, int, None]


class Port:
    """The host end ``ifname`` in namespace ``where``; use as a context manager (closes what it opened)."""

    def __init__(self, where: Where, ifname: str, label: Optional[str] = None, index: Optional[int] = None) -> None:
        self.ifname = ifname
        self._own_fd = not isinstance(where, int)
        if isinstance(where, int):
            self.fd: Optional[int] = where
        elif where is None:
            self.fd = None
        else:
            try:
                self.fd = open_netns(where)
            except NetnsError as e:
                raise NotFound(f"network namespace {where} is gone ({e.strerror})", rule="namespace") from None
        if label is None and isinstance(where, str):
            label = where
        self.label = label  # how commands name the namespace: a /run/netns name, a path, or None
        self._ipr: Optional["IPRoute"] = None
        self._raw: Optional[Reader] = None
        self._index: Optional[int] = index  # known already (a dump the caller made), else looked up once

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None
        if self._own_fd and self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "Port":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- kernel access ---------------------------------------------------------------------
    def inside(self, fn: Callable[[], T]) -> T:
        if self.fd is None:
            return fn()
        with entered(self.fd):
            return fn()

    @property
    def ipr(self) -> "IPRoute":
        if self._ipr is None:
            from pyroute2 import IPRoute  # deferred: 0.2 s to import, and reading a policy never needs it

            self._ipr = self.inside(IPRoute)
        return self._ipr

    @property
    def raw(self) -> Reader:
        """A raw rtnetlink socket in the namespace (reads, and the tbf requests pyroute2 cannot make exactly)."""
        if self._raw is None:
            self._raw = Reader(self.fd)
        return self._raw

    @property
    def index(self) -> int:
        """The host end's ifindex (looked up once; NotFound when it is not there)."""
        if self._index is None:
            found = ifindex(self.fd, self.ifname)
            if not found:
                raise NotFound(f"no interface {self.ifname} in {self.where_text()}", rule="interface")
            self._index = found
        return self._index

    def nft(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return nft.run(self.fd, commands)

    def change(self, what: str, fn: Callable[[], T], netlink: bool = True) -> T:
        """Run one change after the fault-injection checkpoint."""
        faults.checkpoint(what, netlink=netlink)
        return fn()

    # -- rendering -------------------------------------------------------------------------
    def where_text(self) -> str:
        return self.label or "the root namespace"

    def cmd(self, tool: str, *words: str) -> str:
        """``tc``/``ip``/``bridge`` (``-n NS``) or ``nft`` (``ip netns exec NS``) as an operator types it."""
        text = " ".join([tool] + [shlex.quote(w) if w and not set(w) <= _PLAIN else w for w in words])
        lab = self.label
        if not lab:
            return text
        if lab.startswith("/"):
            return f"nsenter --net={shlex.quote(lab)} {text}"
        if tool in ("ip", "tc", "bridge"):
            return f"{tool} -n {lab} " + text[len(tool) + 1:]
        return f"ip netns exec {lab} {text}"


_PLAIN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-:/,=+@%")
