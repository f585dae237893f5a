"""Shared set-up for the policy tests (no tests here): a bridge with two container ports in throwaway namespaces.

::

    vt-…-0 (host): br0 ── veth9.0 ═══ eth0 in vt-…-1 (the guest: c4:37:72:00:09:01,
                   │                      198.18.9.2/24, fd00:5654::9:2/64)
                   └──── veth8.0 ═══ eth0 in vt-…-2 (another container: c4:37:72:00:08:01,
                                          198.18.9.3/24, fd00:5654::9:3/64)

Every view the tests compare against comes from iproute2/nft themselves
(``tc -j``, ``nft -j``, ``bridge -j``, ``ip -j``), not from our reader.
"""

from __future__ import annotations

import json
import os
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import pytest

from tests.helpers import ip_json, netns

GUEST_MAC = "c4:37:72:00:09:01"
OTHER_MAC = "c4:37:72:00:08:01"
GUEST_V4, OTHER_V4 = "198.18.9.2", "198.18.9.3"
GUEST_V6, OTHER_V6 = "fd00:5654::9:2", "fd00:5654::9:3"


def sh(*cmd: str, check: bool = True) -> str:
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True).stdout


def tc_json(ns: str, *args: str) -> Any:
    return json.loads(sh("tc", "-n", ns, "-j", *args) or "[]")


def nft_json(ns: str, *args: str) -> list[dict[str, Any]]:
    out = subprocess.run(["ip", "netns", "exec", ns, "nft", "-j", *args], capture_output=True, text=True)
    if out.returncode != 0:
        return []
    return json.loads(out.stdout)["nftables"]


def bridge_port(ns: str, dev: str) -> dict[str, Any]:
    got = json.loads(sh("bridge", "-n", ns, "-j", "-d", "link", "show", "dev", dev) or "[]")
    return got[0] if got else {}


def root_qdisc(ns: str, dev: str) -> dict[str, Any]:
    return [q for q in tc_json(ns, "qdisc", "show", "dev", dev) if q.get("root")][0]


def our_tables(ns: str) -> list[str]:
    """``nft -j list tables netdev``: our tables (one per port, ``vnet_tui_<ifname>``)."""
    return sorted(i["table"]["name"] for i in nft_json(ns, "list", "tables", "netdev")
                  if "table" in i and i["table"]["name"].startswith("vnet_tui_"))


def our_chains(ns: str) -> dict[str, dict[str, Any]]:
    """``nft -j list ruleset netdev``, our tables' chains: name → {"chain": …, "rules": […]} ({} when none)."""
    items = [i for i in nft_json(ns, "list", "ruleset", "netdev")
             if any(k in i and i[k]["table"].startswith("vnet_tui_") for k in ("chain", "rule"))]
    out: dict[str, dict[str, Any]] = {}
    for i in items:
        if "chain" in i:
            out[i["chain"]["name"]] = {"chain": i["chain"], "rules": []}
    for i in items:
        if "rule" in i:
            out[i["rule"]["chain"]]["rules"].append(i["rule"])
    return out


def views(ns: str, dev: str) -> dict[str, Any]:
    """Everything the tools show about one host end's policy, without counters."""
    qd = [{k: q.get(k) for k in ("kind", "handle", "root", "options")} for q in tc_json(ns, "qdisc", "show", "dev", dev)]
    link = ip_json("link", "show", "dev", dev, netns=ns)[0]
    bp = bridge_port(ns, dev)
    chains = {}
    for name, c in our_chains(ns).items():
        if name.endswith("_" + dev):
            chains[name] = [[e for e in r["expr"] if "counter" not in e] for r in c["rules"]]
    return {"qdiscs": qd, "flags": sorted(link["flags"]), "operstate": link["operstate"],
            "isolated": bp.get("isolated"), "flood": bp.get("flood"), "learning": bp.get("learning"),
            "chains": chains}


@dataclass
class Lab:
    host: str
    guest: str
    other: str
    port: str = "veth9.0"
    other_port: str = "veth8.0"


@contextmanager
def lab() -> Iterator[Lab]:
    with netns(3) as (h, g, o):
        run = lambda *a: sh(*a)  # noqa: E731
        run("ip", "-n", h, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", h, "link", "set", "br0", "up")
        for port, ns, mac, v4, v6 in (("veth9.0", g, GUEST_MAC, GUEST_V4, GUEST_V6),
                                      ("veth8.0", o, OTHER_MAC, OTHER_V4, OTHER_V6)):
            run("ip", "-n", h, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
            run("ip", "-n", h, "link", "set", port, "master", "br0", "up")
            run("ip", "-n", ns, "link", "set", "eth0", "address", mac, "up")
            run("ip", "-n", ns, "addr", "add", f"{v4}/24", "dev", "eth0")
            run("ip", "-n", ns, "addr", "add", f"{v6}/64", "dev", "eth0", "nodad")
        yield Lab(h, g, o)


def root_policy_state() -> dict[str, str]:
    """The root namespace's firewall and qdiscs: must be the same after every test."""
    return {"nft": sh("nft", "list", "ruleset", check=False), "tc": sh("tc", "qdisc", "show")}


@pytest.fixture
def plab():
    before = root_policy_state()
    with lab() as lb:
        yield lb
    assert root_policy_state() == before, "the root namespace's nft ruleset or qdiscs changed"


def counters(ns: str, dev: str) -> dict[str, int]:
    s = ip_json("-s", "link", "show", "dev", dev, netns=ns)[0]["stats64"]
    return {"rx_packets": s["rx"]["packets"], "rx_bytes": s["rx"]["bytes"],
            "tx_packets": s["tx"]["packets"], "tx_bytes": s["tx"]["bytes"]}


assert os.path.basename(__file__).startswith("test_policy_")
