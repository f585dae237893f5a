"""kill -9 at every netlink send (and every journal fsync) of add, edit and delete.

``strace -e inject=sendto:signal=SIGKILL:when=N`` kills the CLI at its
N-th ``sendto`` (every rtnetlink request goes out that way) without any
hook in the code; ``inject=fsync`` kills it at the journal's write-ahead
and completion syncs.  After each kill the next command (``undo``) must
settle what was left — roll it back, or complete and journal it so undo
reverts it — and then the lab must equal its snapshot, with no journal
entry left open and no traceback.  Kill points before the change's
write-ahead line only exercise discovery and are sampled, not all run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any, Optional

import pytest

from tests.live.test_ops_support import cli, dumps, lab_namespaces, make_lab, settle
from tests.live.test_ops_support import state  # noqa: F401, I001 (a fixture, used by name)
from vnet_tui.safety import journal

pytestmark = [pytest.mark.live, pytest.mark.timeout(900)]

STRACE = shutil.which("strace")


def shape(d: dict[str, Any]) -> dict[str, Any]:
    """The dumps without ifindexes (an undone delete re-makes the pair under new indexes)."""
    out = {}
    for ns, v in d.items():
        links = sorted(
            ({k: x for k, x in link.items() if k not in ("ifindex", "link_index", "link_netnsid", "link")}
             for link in v["links"]),
            key=lambda l: l["ifname"],
        )
        out[ns] = {**v, "links": links}
    return out


def killed_at(syscall: str, n: int, argv: list[str]) -> subprocess.CompletedProcess:
    assert STRACE
    cmd = [STRACE, "-f", "-qq", "-o", "/dev/null", "-e", f"trace={syscall}",
           "-e", f"inject={syscall}:signal=SIGKILL:when={n}", sys.executable, "-m", "vnet_tui", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy(), timeout=120)


def count_calls(syscall: str, argv: list[str]) -> tuple[list[str], int]:
    """The sequence of ``syscall``/fsync calls of one run (then undone), and where the begin line's fsync is."""
    assert STRACE
    out = subprocess.run(
        [STRACE, "-f", "-qq", "-e", f"trace={syscall},fsync", sys.executable, "-m", "vnet_tui", *argv],
        capture_output=True, text=True, timeout=120,
    )
    calls = [("fsync" if "fsync(" in line else syscall) for line in out.stderr.splitlines()
             if f"{syscall}(" in line or "fsync(" in line]
    assert out.returncode == 0, out.stderr[-2000:]
    first_fsync = calls.index("fsync")
    return calls, calls[:first_fsync].count(syscall)


def settle_and_check(nss: list[str], start: dict[str, Any], where: str) -> Optional[str]:
    r = cli("undo", "--json")
    assert "Traceback" not in r.stdout + r.stderr, (where, r.stderr)
    assert r.returncode in (0, 4), (where, r.stdout, r.stderr)
    assert not journal.incomplete(), f"{where}: a journal entry is still open"
    settle(nss)
    now = shape(dumps(nss))
    assert now == start, where
    return json.loads(r.stdout).get("title") if r.returncode == 0 else None


@pytest.mark.skipif(STRACE is None, reason="needs strace (make system-deps installs it)")
@pytest.mark.parametrize("which", ["add", "set", "del"])
def test_kill_at_every_send_leaves_nothing_after_the_next_command(state: str, which: str) -> None:  # noqa: F811
    with make_lab(2) as info:
        lab, nss = info.name, lab_namespaces(info.name, 2)
        argv = {
            "add": ["adapter", "add", "ct101", "--lab", lab, "--ip", "198.18.77.1/24", "--bridge", "br0"],
            "set": ["adapter", "set", "ct101", "eth0", "--lab", lab, "--mtu", "1400", "--add-ip",
                    "198.18.78.1/24", "--down"],
            "del": ["adapter", "del", "ct102", "eth0", "--lab", lab],
        }[which]
        settle(nss)
        start = shape(dumps(nss))
        calls, before_begin = count_calls("sendto", argv)
        cli("undo", check=0)
        settle(nss)
        assert shape(dumps(nss)) == start
        total = calls.count("sendto")
        points = sorted({1, before_begin // 2} | set(range(max(1, before_begin - 10), total + 2)))
        outcomes: dict[str, int] = {}
        for n in points:
            r = killed_at("sendto", n, argv)
            assert "Traceback" not in r.stderr, (n, r.stderr)
            undone = settle_and_check(nss, start, f"{which}: killed at sendto #{n}")
            key = "finished" if r.returncode == 0 else ("completed+undone" if undone else "rolled back")
            outcomes[key] = outcomes.get(key, 0) + 1
        for n in range(1, calls.count("fsync") + 1):
            r = killed_at("fsync", n, argv)
            undone = settle_and_check(nss, start, f"{which}: killed at fsync #{n}")
            key = "completed+undone" if undone else "rolled back"
            outcomes[key] = outcomes.get(key, 0) + 1
        print(f"{which}: {len(points)} sendto kill points (sends {points[2] if len(points) > 2 else 1}–{total + 1}; "
              f"{before_begin} of {total} sends come before the write-ahead line), "
              f"{calls.count('fsync')} fsync kill points: {outcomes}")
        assert outcomes.get("rolled back") and (outcomes.get("completed+undone") or outcomes.get("finished"))
