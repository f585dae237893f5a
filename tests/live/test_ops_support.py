"""Shared helpers for the ops tests: a lab per module, the CLI, and kernel dumps to compare.

``dumps`` is what "nothing changed" means in these tests: every link
(counters dropped), every address and every route of the lab's host and
container namespaces, as ``ip -j`` reports them, plus the proxy ARP/NDP
sysctls of the host's links.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from typing import Any, Iterator, Optional

import pytest

from tests.helpers import ip_json, unique

pytestmark = pytest.mark.live
VOLATILE = {"stats", "stats64", "operstate", "linkmode", "group", "txqlen"}


def cli(
    *args: str, env: Optional[dict[str, str]] = None, check: Optional[int] = None
) -> subprocess.CompletedProcess:
    """Run ``vnet-tui ARGS`` (the same interpreter); ``check``: the expected exit code."""
    e = {**os.environ, **(env or {})}
    r = subprocess.run([sys.executable, "-m", "vnet_tui", *args], capture_output=True, text=True, env=e)
    if check is not None:
        assert r.returncode == check, f"exit {r.returncode} (wanted {check}): {r.stdout}\n{r.stderr}"
    return r


def cli_json(*args: str, env: Optional[dict[str, str]] = None, check: int = 0) -> dict[str, Any]:
    r = cli(*args, "--json", env=env, check=check)
    return json.loads(r.stdout)


def _links(ns: str) -> list[dict[str, Any]]:
    out = []
    for link in ip_json("link", "show", netns=ns):
        out.append({k: v for k, v in link.items() if k not in VOLATILE})
    return sorted(out, key=lambda l: l["ifindex"])


def _addrs(ns: str) -> dict[str, list[tuple[str, int]]]:
    return {
        a["ifname"]: sorted((x["local"], x["prefixlen"]) for x in a.get("addr_info", []))
        for a in ip_json("addr", "show", netns=ns)
    }


def _routes(ns: str) -> list[str]:
    rs = ip_json("route", "show", "table", "all", netns=ns) + ip_json(
        "-6", "route", "show", "table", "all", netns=ns
    )
    return sorted(json.dumps({k: v for k, v in r.items() if k != "expires"}, sort_keys=True) for r in rs)


def _sysctls(ns: str, links: list[dict[str, Any]]) -> dict[str, str]:
    """The per-link sysctls vnet-tui may touch, read from inside the namespace."""
    from vnet_tui.net.netns import entered, open_netns

    out = {}
    fd = open_netns(ns)
    try:
        with entered(fd):
            for link in links:
                n = link["ifname"]
                for path in (
                    f"ipv4/conf/{n}/proxy_arp",
                    f"ipv6/conf/{n}/proxy_ndp",
                    f"ipv4/conf/{n}/promote_secondaries",
                    f"ipv6/conf/{n}/disable_ipv6",
                ):
                    try:
                        with open(f"/proc/sys/net/{path}") as f:
                            out[path] = f.read().strip()
                    except FileNotFoundError:
                        out[path] = "-"
    finally:
        os.close(fd)
    return out


def dumps(namespaces: list[str], sysctls: bool = False) -> dict[str, Any]:
    """Links, addresses, routes (and optionally the per-link sysctls we touch) of ``namespaces``."""
    out = {}
    for ns in namespaces:
        links = _links(ns)
        out[ns] = {"links": links, "addrs": _addrs(ns), "routes": _routes(ns)}
        if sysctls:
            out[ns]["sysctls"] = _sysctls(ns, links)
    return out


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two dumps differ, as readable paths (for assertion messages)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d
            for k in sorted(set(a) | set(b), key=str)
            for d in differences(a.get(k), b.get(k), f"{path}/{k}")
        ]
    if isinstance(a, list) and isinstance(b, list):
        if all(isinstance(x, str) for x in a + b):
            return [f"{path}: -{sorted(set(a) - set(b))} +{sorted(set(b) - set(a))}"] if a != b else []
        if len(a) == len(b):
            return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} -> {b!r}"]


def lab_namespaces(name: str, containers: int) -> list[str]:
    return [f"vl-{name}-host"] + [f"vl-{name}-ct{101 + i}" for i in range(containers)]


def link(ns: str, name: str) -> dict[str, Any]:
    return ip_json("-d", "link", "show", "dev", name, netns=ns)[0]


def addrs_of(ns: str, name: str) -> set[str]:
    return {
        f"{x['local']}/{x['prefixlen']}"
        for a in ip_json("addr", "show", "dev", name, netns=ns)
        for x in a.get("addr_info", [])
        if not x["local"].startswith("fe80:")
    }


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A journal/state directory for the module, also exported for the CLI."""
    d = str(tmp_path_factory.mktemp("vnet-state"))
    old = os.environ.get("VNET_TUI_STATE")
    os.environ["VNET_TUI_STATE"] = d
    try:
        yield d
    finally:
        if old is None:
            os.environ.pop("VNET_TUI_STATE", None)
        else:
            os.environ["VNET_TUI_STATE"] = old


def settle(namespaces: list[str], timeout: float = 30.0) -> None:
    """Wait until no address is tentative: IPv6 DAD adds routes a second after a link comes up."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = [
            x
            for ns in namespaces
            for a in ip_json("addr", "show", netns=ns)
            for x in a.get("addr_info", [])
            if x.get("tentative")
        ]
        if not busy:
            return
        time.sleep(0.1)


@contextmanager
def make_lab(containers: int = 2, vms: int = 0) -> Iterator[Any]:
    """A lab for the block (always taken down), settled: its dumps no longer move by themselves."""
    from vnet_tui.lab import lab

    with lab(unique("o"), containers=containers, vms=vms, seed=7) as info:
        settle([info.host_netns] + [c.netns for c in info.containers])
        yield info


def test_dumps_see_a_change() -> None:
    """The comparison used everywhere notices a one-byte change (and only then)."""
    with make_lab(1) as info:
        nss = lab_namespaces(info.name, 1)
        a, b = dumps(nss, sysctls=True), dumps(nss, sysctls=True)
        assert a == b
        subprocess.run(["ip", "-n", nss[1], "link", "set", "eth0", "mtu", "1499"], check=True)
        assert dumps(nss) != a
