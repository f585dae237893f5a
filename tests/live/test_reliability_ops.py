"""Two operators at once, revert timers armed before the change, timeouts, undo per lab instance.

* two simultaneous adds that would clash (the same address, the same MAC)
  on two containers: exactly one wins, the other is refused by the
  validation repeated under the server lock — never both;
* ``--confirm-timeout`` takes only finite seconds within 2–3600;
* a protected change killed mid-way: its revert timer was running before
  the first netlink call, and it restores the snapshot;
* undo never crosses a lab's rebuild or a replaced container namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.live.test_ops_support import cli, cli_json, dumps, lab_namespaces, link, make_lab, settle
from tests.live.test_ops_support import state  # noqa: F401, I001 (a fixture, used by name)
from tests.live.killpoint import killed_after_fsync
from vnet_tui.safety import journal

pytestmark = [pytest.mark.live, pytest.mark.timeout(300)]


def both(a: list[str], b: list[str]) -> list[subprocess.CompletedProcess]:
    procs = [
        subprocess.Popen([sys.executable, "-m", "vnet_tui", *argv, "--json"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for argv in (a, b)
    ]
    out = []
    for p in procs:
        so, se = p.communicate(timeout=120)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, so, se))
    return out


def test_two_operators_never_both_win(state: str) -> None:  # noqa: F811
    with make_lab(2) as info:
        lab, nss = info.name, lab_namespaces(info.name, 2)
        settle(nss)
        start = dumps(nss)
        rounds = {
            "address": ["--ip", "198.18.77.1/16"],
            "mac": ["--mac", "c4:37:72:aa:bb:cc"],
        }
        for what, extra in rounds.items():
            for _ in range(3):
                a = ["adapter", "add", "ct101", "--lab", lab, *extra]
                b = ["adapter", "add", "ct102", "--lab", lab, *extra]
                results = both(a, b)
                codes = sorted(r.returncode for r in results)
                assert codes == [0, 2], [(r.returncode, r.stdout, r.stderr) for r in results]
                loser = next(r for r in results if r.returncode == 2)
                assert "Traceback" not in loser.stderr
                assert json.loads(loser.stdout)["error"]["rule"] in ("ip-duplicate", "mac-duplicate"), loser.stdout
                cli("undo", "--lab", lab, check=0)
                settle(nss)
                assert dumps(nss) == start, what


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "-5", "0", "1", "1e9", "1e400", "3601"])
def test_confirm_timeout_must_be_finite_and_sane(state: str, value: str) -> None:  # noqa: F811
    with make_lab(1) as info:
        r = cli("adapter", "set", "ct101", "eth0", "--lab", info.name, "--mtu", "1400", "--confirm",
                f"--confirm-timeout={value}", "--json", check=2)
        assert json.loads(r.stdout)["error"]["rule"] == "confirm-timeout"
        assert link(lab_namespaces(info.name, 1)[1], "eth0")["mtu"] == 1500
        assert b"Infinity" not in (journal.journal_path().read_bytes() if journal.journal_path().exists() else b"")


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (make system-deps installs it)")
def test_protected_change_killed_mid_way_is_restored_by_its_timer(state: str) -> None:  # noqa: F811
    with make_lab(2) as info:
        lab, nss = info.name, lab_namespaces(info.name, 2)
        topo = cli_json("show", "--lab", lab)
        client = next(i for i in topo["containers"][0]["interfaces"] if i["ifname"] == "eth0")["addresses"][0]
        local = next(i for i in topo["host"]["interfaces"] if i["ifname"] == "br0")["addresses"][0]
        env = {**os.environ, "SSH_CONNECTION": f"{client.split('/')[0]} 50000 {local.split('/')[0]} 22"}
        settle(nss)
        start = dumps(nss, sysctls=True)
        argv = ["adapter", "set", "ct101", "eth0", "--lab", lab, "--mtu", "1400", "--add-ip", "198.18.79.1/16",
                "--confirm", "--confirm-timeout", "3"]
        for k in (2, 4):  # killed after the first steps of the change: its k-th send after the write-ahead line
            r = killed_after_fsync([sys.executable, "-m", "vnet_tui", *argv], k, env=env)
            assert r.returncode == -9, (r.returncode, r.stderr[-2000:])
            opened = journal.incomplete()
            assert opened and opened[-1].get("confirm"), "the write-ahead line names the timer's change"
            cid = opened[-1]["id"]
            deadline = time.monotonic() + 30
            while journal.outcome(cid) == "incomplete" and time.monotonic() < deadline:
                time.sleep(0.2)
            assert journal.outcome(cid) == "aborted", "the revert timer did not settle the killed change"
            settle(nss)
            assert dumps(nss, sysctls=True) == start, f"killed at send {k} after the write-ahead line"


def test_undo_never_crosses_a_lab_rebuild_or_a_replaced_namespace(state: str) -> None:  # noqa: F811
    from vnet_tui.lab import lab as lab_ctx

    from tests.helpers import unique

    name = unique("u")
    with lab_ctx(name, containers=2, vms=0, seed=7):
        old = cli_json("adapter", "set", "ct101", "eth0", "--lab", name, "--mtu", "1400")["journal_id"]
    with lab_ctx(name, containers=2, vms=0, seed=7):
        nss = lab_namespaces(name, 2)
        settle(nss)
        start = dumps(nss)
        r = cli("undo", "--lab", name, "--json", check=4)
        assert json.loads(r.stdout)["error"]["rule"] == "undo-empty"
        r = cli("undo", "--id", old, "--json", check=2)
        err = json.loads(r.stdout)["error"]
        assert err["rule"] == "undo-other-instance" and "earlier build" in err["message"]
        listed = json.loads(cli("undo", "--list", "--lab", name, "--json").stdout)["journal"]
        assert old not in [x["id"] for x in listed]
        assert dumps(nss) == start
        # a container whose namespace is replaced (restarted) under the same name
        cur = cli_json("adapter", "set", "ct102", "eth0", "--lab", name, "--mtu", "1400")["journal_id"]
        ct102 = f"vl-{name}-ct102"
        subprocess.run(["ip", "netns", "del", ct102], check=True)
        subprocess.run(["ip", "netns", "add", ct102], check=True)
        r = cli("undo", "--lab", name, "--json")
        assert r.returncode == 4 and json.loads(r.stdout)["error"]["rule"] == "undo-target-replaced", r.stdout
        assert journal.fate(cur) is None
        assert "Traceback" not in r.stderr


def test_a_held_server_lock_refuses_with_who_holds_it(state: str) -> None:  # noqa: F811
    from vnet_tui.safety.lock import server_lock

    with make_lab(1) as info:
        nss = lab_namespaces(info.name, 1)
        start = dumps(nss)
        with server_lock("a long change"):
            r = cli("adapter", "set", "ct101", "eth0", "--lab", info.name, "--mtu", "1400", "--json",
                    env={"VNET_TUI_LOCK_WAIT": "0.5"}, check=3)
        err = json.loads(r.stdout)["error"]
        assert err["rule"] == "server-busy" and f"pid {os.getpid()}" in err["message"] and "a long change" in err["message"]
        assert dumps(nss) == start
        cli("adapter", "set", "ct101", "eth0", "--lab", info.name, "--mtu", "1400", check=0)  # free again
        cli("undo", "--lab", info.name, check=0)
