"""Helpers for tests: unique names, throwaway namespaces, `ip -j` views."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from contextlib import contextmanager
from typing import Any, Iterator


def ip_json(*args: str, netns: str | None = None) -> Any:
    cmd = ["ip", "-j"] + (["-n", netns] if netns else []) + list(args)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out or "[]")


def root_net_state() -> dict[str, Any]:
    """Links (without counters), addresses and routes of the root namespace."""
    links = [
        {k: l.get(k) for k in ("ifindex", "ifname", "address", "mtu", "flags", "master", "link")}
        for l in ip_json("link", "show")
    ]
    addrs = [
        (a["ifname"], sorted((x["local"], x["prefixlen"]) for x in a.get("addr_info", [])))
        for a in ip_json("addr", "show")
    ]
    routes = ip_json("route", "show", "table", "all") + ip_json("-6", "route", "show", "table", "all")
    for r in routes:
        r.pop("expires", None)
    return {"links": links, "addrs": addrs, "routes": routes}


def ours_left() -> dict[str, list[str]]:
    """Namespaces, QEMU processes and lab files of ours still present."""
    left: dict[str, list[str]] = {}
    names = [n["name"] for n in ip_json("netns", "list")]
    ns = [n for n in names if n.startswith(("vl-", "vt-"))]
    if ns:
        left["namespaces"] = ns
    qemu = subprocess.run(["pgrep", "-a", "-f", "qemu-system.*vl-"], capture_output=True, text=True).stdout
    if qemu.strip():
        left["qemu"] = qemu.strip().splitlines()
    return left


def unique(prefix: str = "t") -> str:
    """A short unique name (fits lab names: 1–8 of a-z0-9)."""
    return prefix + secrets.token_hex(3)


@contextmanager
def netns(count: int = 1) -> Iterator[list[str]]:
    """Create ``count`` throwaway namespaces ``vt-…``; remove them whatever happens."""
    names = [f"vt-{unique()}-{i}" for i in range(count)]
    try:
        for n in names:
            subprocess.run(["ip", "netns", "add", n], check=True)
            subprocess.run(["ip", "-n", n, "link", "set", "lo", "up"], check=True)
        yield names
    finally:
        for n in names:
            subprocess.run(["ip", "netns", "del", n], capture_output=True)


def udp_burst(netns_name: str, dst: str, count: int = 20, port: int = 9, size: int = 200) -> None:
    """Send ``count`` UDP datagrams from inside namespace ``netns_name`` to ``dst``."""
    import socket
    import time

    from vnet_tui.net.netns import entered, open_netns

    fd = open_netns(netns_name)
    try:
        with entered(fd):
            fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
            s = socket.socket(fam, socket.SOCK_DGRAM)
        with s:
            for _ in range(count):
                try:
                    s.sendto(b"v" * size, (dst, port))
                except OSError:
                    time.sleep(0.01)
                time.sleep(0.002)
    finally:
        os.close(fd)
