"""Check `show --json` against iproute2's own view (`ip -j -n NS link/addr`)."""

from __future__ import annotations

from typing import Any, Optional

from tests.helpers import ip_json


def _ns_view(netns: Optional[str]) -> tuple[dict[int, dict], dict[int, set[str]]]:
    links = {l["ifindex"]: l for l in ip_json("link", "show", netns=netns)}
    addrs: dict[int, set[str]] = {}
    for a in ip_json("addr", "show", netns=netns):
        addrs[a["ifindex"]] = {f"{x['local']}/{x['prefixlen']}" for x in a.get("addr_info", [])}
    return links, addrs


def check_end(end: dict[str, Any], links: dict[int, dict], addrs: dict[int, set[str]]) -> dict:
    """One END of show --json equals what ip says about that ifindex; returns ip's link."""
    l = links.get(end["ifindex"])
    assert l is not None, f"{end['ifname']}: ifindex {end['ifindex']} not in ip's view"
    assert end["ifname"] == l["ifname"]
    assert end["mac"] == l.get("address")
    assert end["mtu"] == l["mtu"]
    assert end["master"] == l.get("master")
    assert set(end["addresses"]) == addrs.get(end["ifindex"], set()), end["ifname"]
    return l


def assert_show_matches_ip(show: dict[str, Any]) -> int:
    """Every end of every pair agrees with ip, in both namespaces. Returns the pairs checked."""
    host_ns = show["host"]["netns"]
    hlinks, haddrs = _ns_view(host_ns)
    assert {i["ifindex"] for i in show["host"]["interfaces"]} == set(hlinks)
    for end in show["host"]["interfaces"]:
        check_end(end, hlinks, haddrs)
    pairs = 0
    for ct in show["containers"]:
        ns = ct["netns"]["name"]
        clinks, caddrs = _ns_view(ns)
        assert {i["ifindex"] for i in ct["interfaces"]} == set(clinks)
        for end in ct["interfaces"]:
            l = check_end(end, clinks, caddrs)
            peer = end["peer"]
            if peer is None:
                continue
            assert peer["kind"] == "host"
            # ip's own facts: the guest end links to the host end's ifindex
            assert l.get("link_index") == peer["ifindex"], (ct["name"], end["ifname"])
            h = hlinks[peer["ifindex"]]
            assert h["ifname"] == peer["ifname"]
            assert h.get("link_index") == end["ifindex"]
            host_end = next(i for i in show["host"]["interfaces"] if i["ifindex"] == peer["ifindex"])
            assert host_end["peer"]["owner"] == ct["name"]
            assert host_end["peer"]["ifindex"] == end["ifindex"]
            assert host_end["peer"]["netns"] == ns
            pairs += 1
    return pairs
