"""An undone delete makes the pair again with each end's IPv6 address generation mode as it was.

A lab's container ends have ``addr_gen_mode`` 1 (none: no link-local,
lab/bulk.py) and its host ends IPv6 off; a runtime may do the same.  A
veth made again comes up with the kernel's default (a link-local), so
the undo writes the mode back before the end comes up: the pair is
again what the snapshot said, link-local addresses included.
"""

from __future__ import annotations

import os

import pytest

from tests.helpers import ip_json
from tests.live.test_ops_support import cli, dumps, lab_namespaces, make_lab, settle
from tests.live.test_ops_support import state  # noqa: F401, I001 (a fixture, used by name)
from vnet_tui.net.netns import entered, open_netns

pytestmark = [pytest.mark.live, pytest.mark.timeout(180)]


def mode(ns: str, ifname: str) -> str:
    fd = open_netns(ns)
    try:
        with entered(fd):
            with open(f"/proc/sys/net/ipv6/conf/{ifname}/addr_gen_mode") as f:
                return f.read().strip()
    finally:
        os.close(fd)


def link_locals(ns: str, ifname: str) -> list[str]:
    return [x["local"] for a in ip_json("addr", "show", "dev", ifname, netns=ns)
            for x in a.get("addr_info", []) if x["local"].startswith("fe80:")]


def test_an_undone_delete_brings_back_the_ends_address_generation_mode(state: str) -> None:  # noqa: F811
    with make_lab(2) as info:
        lab, nss = info.name, lab_namespaces(info.name, 2)
        ct = f"vl-{lab}-ct102"
        settle(nss)
        assert mode(ct, "eth0") == "1" and link_locals(ct, "eth0") == []  # as the lab makes it
        start = dumps(nss)
        cli("adapter", "del", "ct102", "eth0", "--lab", lab, check=0)
        undo = cli("undo", "--dry-run", check=0)
        assert "sysctl -w net/ipv6/conf/eth0/addr_gen_mode=1" in undo.stdout, undo.stdout
        cli("undo", check=0)
        settle(nss)
        assert mode(ct, "eth0") == "1"
        assert link_locals(ct, "eth0") == []
        now = dumps(nss)
        for ns in nss:  # ifindexes change with the pair made again; names, MACs and addresses do not
            assert now[ns]["addrs"] == start[ns]["addrs"], ns
