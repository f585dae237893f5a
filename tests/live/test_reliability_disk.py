"""A full, a nearly full and a read-only state directory: a change is refused or rolled back, never hidden.

The state directory is a small tmpfs mounted in a private mount namespace
(``unshare -m``: nothing stays mounted when the test ends).  Each case runs
the CLI in that namespace against a lab, then the test proves the lab's
links, addresses and routes equal the snapshot taken before, that no
traceback was printed, and that the next command — with room again —
finds no change left open in the journal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.live.test_ops_support import cli_json, dumps, lab_namespaces, make_lab, settle
from tests.live.test_ops_support import state  # noqa: F401, I001 (a fixture: the labs' private state)

pytestmark = [pytest.mark.live, pytest.mark.timeout(300)]

RUNNER = textwrap.dedent(
    r"""
    import json, os, subprocess, sys
    state, mode, seed, argv_list = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
    next_list = json.loads(sys.argv[5])
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", state], check=True)
    labs = os.path.join(os.environ["VNET_TUI_STATE"], "labs")  # the labs' records stay readable (bind mount)
    os.makedirs(os.path.join(state, "labs"))
    subprocess.run(["mount", "--bind", labs, os.path.join(state, "labs")], check=True)
    if seed:  # a journal ending `seed` bytes before a page boundary: the next line fits, the one after not
        pad = 4096 - seed - len('{"id": "pad", "op": "note", "pad": ""}\n')
        with open(os.path.join(state, "journal.jsonl"), "w") as f:
            f.write('{"id": "pad", "op": "note", "pad": "%s"}\n' % ("x" * pad))
    if mode in ("full", "nearly"):
        for name in ("server.lock", "journal.lock", "generation"):  # inodes cost no blocks; made up front
            open(os.path.join(state, name), "a").close()
        os.makedirs(os.path.join(state, "timers"), exist_ok=True)
        fd = os.open(os.path.join(state, "fill"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096) == 4096:
                pass
        except OSError:
            pass
        os.close(fd)
    if mode == "ro":
        subprocess.run(["mount", "-o", "remount,ro", state], check=True)
    out = []
    for argv in argv_list:
        r = subprocess.run([sys.executable, "-m", "vnet_tui", *argv], capture_output=True, text=True,
                           env={**os.environ, "VNET_TUI_STATE": state})
        out.append({"argv": argv, "rc": r.returncode, "stdout": r.stdout, "stderr": r.stderr})
    if mode != "ro" and os.path.exists(os.path.join(state, "fill")):
        os.unlink(os.path.join(state, "fill"))  # room again: the next command settles what was left open
        for argv in next_list:
            r = subprocess.run([sys.executable, "-m", "vnet_tui", *argv], capture_output=True, text=True,
                               env={**os.environ, "VNET_TUI_STATE": state})
            out.append({"argv": argv, "rc": r.returncode, "stdout": r.stdout, "stderr": r.stderr})
    journal = open(os.path.join(state, "journal.jsonl"), "rb").read() if os.path.exists(
        os.path.join(state, "journal.jsonl")) else b""
    print(json.dumps({"runs": out, "journal": journal.decode("utf-8", "replace")}))
    """
)


def in_private_tmpfs(
    tmpfs: Path, mode: str, argvs: list[list[str]], env: dict[str, str], seed: int = 0,
    then: tuple[list[str], ...] = (),
) -> dict[str, Any]:
    """Run ``argvs`` with the state on a tmpfs (full / nearly full / read-only), then ``then`` with room."""
    r = subprocess.run(
        ["unshare", "-m", "--propagation", "private", sys.executable, "-c", RUNNER, str(tmpfs), mode, str(seed),
         json.dumps(argvs), json.dumps(list(then))],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=240,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def no_traceback(run: dict[str, Any]) -> None:
    assert "Traceback" not in run["stdout"] + run["stderr"], run


def lines(journal: str) -> list[dict[str, Any]]:
    out = []
    for raw in journal.splitlines():
        try:
            out.append(json.loads(raw))
        except ValueError:
            pass
    return out


@pytest.mark.parametrize("mode", ["full", "ro"])
def test_full_or_read_only_state_refuses_with_nothing_changed(state: str, tmp_path: Path, mode: str) -> None:  # noqa: F811
    with make_lab(2) as info:
        lab, nss = info.name, lab_namespaces(info.name, 2)
        settle(nss)
        start = dumps(nss, sysctls=True)
        argvs = [
            ["adapter", "add", "ct101", "--lab", lab, "--ip", "198.18.77.1/24", "--json"],
            ["adapter", "set", "ct101", "eth0", "--lab", lab, "--mtu", "1400", "--json"],
            ["adapter", "del", "ct102", "eth0", "--lab", lab, "--json"],
        ]
        got = in_private_tmpfs(tmp_path, mode, argvs, {})
        for run in got["runs"]:
            no_traceback(run)
            assert run["rc"] == 1, run
            err = json.loads(run["stdout"])["error"]
            assert err["rule"] == "journal" and "nothing was changed" in err["message"], err
        settle(nss)
        assert dumps(nss, sysctls=True) == start
        assert not any(e.get("op") in ("add", "set", "del") for e in lines(got["journal"]))


def test_protected_change_on_a_full_disk_is_refused_before_anything(state: str, tmp_path: Path) -> None:  # noqa: F811
    with make_lab(2) as info:
        lab, nss = info.name, lab_namespaces(info.name, 2)
        topo = cli_json("show", "--lab", lab)
        client = next(i for i in topo["containers"][0]["interfaces"] if i["ifname"] == "eth0")["addresses"][0]
        local = next(i for i in topo["host"]["interfaces"] if i["ifname"] == "br0")["addresses"][0]
        env = {"SSH_CONNECTION": f"{client.split('/')[0]} 50000 {local.split('/')[0]} 22"}
        settle(nss)
        start = dumps(nss, sysctls=True)
        argv = ["adapter", "set", "ct101", "eth0", "--lab", lab, "--mtu", "1400", "--confirm",
                "--confirm-timeout", "5", "--json"]
        got = in_private_tmpfs(tmp_path, "full", [argv], env)
        run = got["runs"][0]
        no_traceback(run)
        assert run["rc"] == 1 and json.loads(run["stdout"])["error"]["rule"] == "journal", run
        assert dumps(nss, sysctls=True) == start
        timers = subprocess.run(["pgrep", "-af", "vnet_tui.txn.revert"], capture_output=True, text=True).stdout
        assert not any(e.get("op") == "begin" for e in lines(got["journal"])), "refused before writing ahead"
        assert "--after 5" not in timers or str(tmp_path) not in timers  # no timer armed for it


def test_nearly_full_completion_fails_rolls_back_and_the_next_command_settles(state: str, tmp_path: Path) -> None:  # noqa: F811
    """The begin line fits, the completion line does not (a short write): rolled back, then recovered."""
    with make_lab(2) as info:
        lab, nss = info.name, lab_namespaces(info.name, 2)
        settle(nss)
        start = dumps(nss, sysctls=True)
        add = ["adapter", "add", "ct101", "--lab", lab, "--ip", "198.18.77.1/24", "--json"]
        other = ["adapter", "set", "ct102", "eth0", "--lab", lab, "--mtu", "1400", "--json"]
        undo = ["undo", "--lab", lab, "--json"]
        got = in_private_tmpfs(tmp_path, "nearly", [add], {}, seed=1700, then=(other, undo))
        run = got["runs"][0]
        no_traceback(run)
        err = json.loads(run["stdout"])["error"]
        assert run["rc"] == 1 and err["rule"] == "rolled-back" and "journaling" in err["message"], run
        settle(nss)
        from tests.live.test_ops_support import differences

        assert dumps(nss, sysctls=True) == start, (differences(start, dumps(nss, sysctls=True)), got["runs"][1:])
        es = lines(got["journal"])
        begins = [e for e in es if e["op"] == "begin"]
        assert begins and begins[0]["change"] == "add" and not any(e["op"] == "add" for e in es)
        # the next command (room again) found the open entry, said so, and closed it
        nxt = got["runs"][1]
        no_traceback(nxt)
        assert nxt["rc"] == 0, nxt
        assert begins[0]["id"] in " ".join(json.loads(nxt["stdout"])["warnings"])
        closed = [e for e in es if e["op"] == "aborted" and e.get("ref") == begins[0]["id"]]
        assert closed, "the first change's begin line is still open"
        assert got["runs"][2]["rc"] == 0, got["runs"][2]  # and that change undone: the lab as it was
