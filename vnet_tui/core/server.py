"""Which "server" vnet-tui looks at: the real one, a named namespace, or a lab."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

from .errors import InvalidInput

LAB_NAME = re.compile(r"^[a-z0-9]{1,8}$")


def lab_host_netns(lab: str) -> str:
    """The host namespace of lab ``lab``."""
    return f"vl-{lab}-host"


def check_lab_name(name: str) -> str:
    """Lab names are 1–8 of a-z0-9 (they become parts of namespace and link names)."""
    if not LAB_NAME.match(name):
        raise InvalidInput(f"lab name {name!r} must be 1–8 characters of a-z0-9", rule="lab-name")
    return name


@dataclass(frozen=True)
class Server:
    """The host: root namespace (both None), ``--netns NAME`` or ``--lab NAME``."""

    lab: Optional[str] = None
    netns: Optional[str] = None

    @property
    def host_netns(self) -> Optional[str]:
        """The host's namespace name (None: the root namespace)."""
        if self.lab:
            return lab_host_netns(self.lab)
        return self.netns

    @property
    def label(self) -> str:
        if self.lab:
            return f"lab {self.lab}"
        if self.netns:
            return f"netns {self.netns}"
        return "this server"

    @classmethod
    def from_args(cls, args: Any) -> "Server":
        lab = getattr(args, "lab", None)
        if lab:
            check_lab_name(lab)
        return cls(lab=lab, netns=getattr(args, "netns", None))
