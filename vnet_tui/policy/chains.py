"""Steps that set, change or remove one of a port's chains in vnet-tui's nftables table."""

from __future__ import annotations

from typing import Any, Callable, Optional

from . import nft, nftrules
from .port import Port
from .steps import Step


def _set(kind: str, value: Any) -> Callable[[Port], None]:
    def act(p: Port) -> None:
        p.change(f"nft set {nftrules.chain_name(kind, p.ifname)}",
                 lambda: p.nft(nftrules.set_chain(kind, p.ifname, value)), netlink=False)
    return act


def _delete(kind: str) -> Callable[[Port], None]:
    def act(p: Port) -> None:
        def run() -> None:
            listing = nft.list_table(p.fd, nftrules.FAMILY, nftrules.table_name(p.ifname))
            names = nftrules.table_chain_names(listing)
            if names is None or nftrules.chain_name(kind, p.ifname) not in names:
                return  # already gone
            p.nft(nftrules.delete_chain(kind, p.ifname, names))
        p.change(f"nft delete {nftrules.chain_name(kind, p.ifname)}", run, netlink=False)
    return act


def steps(port: Port, setting: str, kind: str, want: Any, before: Any, table_chains: Optional[list[str]]) -> list[Step]:
    """One step from ``before`` (None: no chain) to ``want`` (None: no chain); [] when they are equal."""
    if want == before:
        return []
    name = nftrules.chain_name(kind, port.ifname)
    now = table_chains if table_chains is not None else []
    others = [c for c in now if c != name]  # the table's other chains, before and after this step

    def script_of(value: Any) -> str:
        if value is None:
            return nftrules.text_delete(kind, port.ifname, last=not others)
        return nftrules.text_set(kind, port.ifname, value)

    def text_of(value: Any) -> str:
        return port.cmd("nft", script_of(value))

    # a plan's later steps see the table as this step leaves it
    if table_chains is not None:
        if want is None and name in table_chains:
            table_chains.remove(name)
        elif want is not None and name not in table_chains:
            table_chains.append(name)
    act = _set(kind, want) if want is not None else _delete(kind)
    inv = _set(kind, before) if before is not None else _delete(kind)

    def json_of(value: Any) -> list[dict[str, Any]]:
        if value is None:
            return nftrules.delete_chain(kind, port.ifname, others + [name])
        return nftrules.set_chain(kind, port.ifname, value)

    return [Step(setting, text_of(want), act, inv, text_of(before), nft=(json_of(want), json_of(before)),
                 nft_text=(script_of(want), script_of(before)))]
