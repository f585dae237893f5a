"""What discovery keeps of each container namespace and each VM between rescans."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from vnet_tui.core.model import Owner
from vnet_tui.net.namespace import Namespace

from .namespaces import NsInfo


@dataclass
class ContainerNs:
    """A namespace that holds guest ends, with whose it is and how we name it."""

    ns: Namespace
    info: NsInfo
    name: str  # the display name: unique among the server's containers and VMs
    runtime: str
    nsname: Optional[str]
    owner: Optional[Owner] = None
    nsid: Optional[int] = None  # the host's id for it: kept for the namespace's life, asked once
    since: float = 0.0  # time.monotonic() when it was first found
    lab: bool = False  # one of the watched lab's own containers (no runtime ever records it)

    @property
    def owner_name(self) -> str:
        return self.owner.name if self.owner else self.name

    @property
    def key(self) -> str:
        return f"{self.runtime}:{self.owner.id if self.owner else self.ns.inode}"


@dataclass(frozen=True)
class VmIdentity:
    """A VM as display naming sees it (identity.Named)."""

    runtime: str
    owner_name: str
    key: str
