"""The SSH guard and commit-confirmed: SSH_CONNECTION set to a lab address.

The "client" is ct101's address, the "server" side br0's: br0, ct101's
eth0 and its host end veth101.0 carry the session.  Unconfirmed changes
to them exit 3 and change nothing; a confirmed one runs commit-confirmed
and its revert timer — a detached process — restores the state after the
process that made the change was SIGKILLed; confirming in time cancels it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.live.test_ops_support import cli, cli_json, dumps, lab_namespaces, link, make_lab, settle
from tests.live.test_ops_support import state  # noqa: F401, I001 (a fixture, used by name)
from vnet_tui.safety import journal

pytestmark = [pytest.mark.live, pytest.mark.timeout(120)]


def wait_until(cond, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_guard_blocks_then_revert_timer_restores(state: str) -> None:  # noqa: F811
    with make_lab(2) as info:
        lab, nss = info.name, lab_namespaces(info.name, 2)
        ct = nss[1]
        topo = cli_json("show", "--lab", lab)
        client = next(i for i in topo["containers"][0]["interfaces"] if i["ifname"] == "eth0")["addresses"][0]
        local = next(i for i in topo["host"]["interfaces"] if i["ifname"] == "br0")["addresses"][0]
        env = {"SSH_CONNECTION": f"{client.split('/')[0]} 50000 {local.split('/')[0]} 22"}
        start = dumps(nss, sysctls=True)

        for argv in (
            ["set", "ct101", "eth0", "--mtu", "1400"],
            ["set", "ct101", "veth101.0", "--down"],
            ["del", "ct101", "eth0"],
            ["add", "ct102", "--bridge", "br0", "--host-mac", "02:00:00:00:00:01"],
        ):
            r = cli("adapter", *argv, "--lab", lab, "--json", env=env, check=3)
            err = json.loads(r.stdout)["error"]
            assert err["rule"] == "ssh-guard" and "SSH session" in err["message"], argv
        # routing the client's own address away: the client sits beyond br0 (an address used on the
        # server is refused earlier, by ip-duplicate)
        far = {"SSH_CONNECTION": f"198.18.200.200 50000 {local.split('/')[0]} 22"}
        r = cli("adapter", "add", "ct102", "--routed", "--ip", "198.18.200.200/32", "--ifname", "eth5",
                "--lab", lab, "--json", env=far, check=3)
        assert json.loads(r.stdout)["error"]["rule"] == "ssh-guard"
        r = cli("adapter", "add", "ct102", "--routed", "--ip", client.split("/")[0] + "/32", "--lab", lab,
                "--json", env=env, check=2)
        assert json.loads(r.stdout)["error"]["rule"] == "ip-duplicate"
        settle(nss)
        assert dumps(nss, sysctls=True) == start
        # what does not touch the session is not held up
        cli("adapter", "set", "ct102", "eth0", "--lab", lab, "--mtu", "1400", env=env, check=0)
        cli("undo", check=0)

        # confirmed: applied, then the process that made it dies; the timer reverts it
        code = textwrap.dedent(f"""
            import json, sys, time
            from vnet_tui.core.server import Server
            from vnet_tui.txn import api
            from vnet_tui.ops.requests import SetRequest
            r = api.edit_adapter(Server(lab={lab!r}), SetRequest("ct101", "eth0", mtu=1400),
                                 confirm=True, confirm_timeout=4)
            print(json.dumps(r.confirm), flush=True)
            time.sleep(600)
        """)
        maker = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env={**os.environ, **env}
        )
        try:
            confirm = json.loads(maker.stdout.readline())  # type: ignore[union-attr]
            assert confirm["protected"] and link(ct, "eth0")["mtu"] == 1400
            maker.send_signal(signal.SIGKILL)  # the TUI/CLI and its session are gone
            maker.wait()
            wait_until(lambda: link(ct, "eth0")["mtu"] == 1500, 20, "the revert timer")
        finally:
            if maker.poll() is None:
                maker.kill()
                maker.wait()
        wait_until(lambda: journal.fate(confirm["id"]) == "revert", 5, "the revert journalled")
        settle(nss)
        assert dumps(nss, sysctls=True) == start
        r = cli("adapter", "confirm", confirm["id"], "--json", check=2)  # too late
        assert json.loads(r.stdout)["error"]["rule"] == "confirm-late"

        # confirmed in time: the timer is stopped and the change stays
        out = cli_json(
            "adapter",
            "set",
            "ct101",
            "eth0",
            "--lab",
            lab,
            "--mtu",
            "1420",
            "--confirm",
            "--confirm-timeout",
            "3",
            env=env,
        )
        cid = out["confirm"]["id"]
        pid_file = os.path.join(state, "timers", f"{cid}.pid")
        wait_until(lambda: os.path.exists(pid_file), 5, "the timer to start")
        pid = int(open(pid_file).read())
        assert cli_json("adapter", "confirm", "--list")["pending"][0]["id"] == cid
        assert cli_json("adapter", "confirm", cid)["confirmed"] == [cid]
        wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 5, "the timer to stop")
        time.sleep(3.5)
        assert link(ct, "eth0")["mtu"] == 1420 and journal.fate(cid) == "confirm"
        cli("undo", check=0)
        settle(nss)
        assert dumps(nss, sysctls=True) == start
