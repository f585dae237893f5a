"""Two containers whose only name is their process's (``sleep``) are told apart and never guessed.

Two unnamed network namespaces, each held by a ``sleep`` process, with a
veth adapter into a test "host" namespace: the way nspawn machines or
cgroup-less LXC containers looked to discovery before their owners were
asked.  Display names differ, ``show --json`` says runtime/id/display, and
a target naming both is refused with exit 2 (rule target-ambiguous) while
each display name and ``pid:N`` reaches exactly its own container.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import netns

pytestmark = pytest.mark.live


def vnet(*args, state):
    env = {**os.environ, "VNET_TUI_STATE": state}
    return subprocess.run([sys.executable, "-m", "vnet_tui", *args], capture_output=True, text=True, env=env)


@pytest.fixture
def two_sleeps(tmp_path):
    procs = []
    with netns(1) as (host,):
        try:
            for n in (1, 2):
                p = subprocess.Popen(["unshare", "--net", "sleep", "600"])
                procs.append(p)
            for n, p in enumerate(procs, 1):
                for _ in range(100):  # unshare has made the namespace once /proc says it differs
                    if os.stat(f"/proc/{p.pid}/ns/net").st_ino != os.stat("/proc/self/ns/net").st_ino:
                        break
                    subprocess.run(["sleep", "0.02"])
                subprocess.run(["ip", "-n", host, "link", "add", f"vs{n}", "type", "veth", "peer", "name", "eth0",
                                "netns", str(p.pid)], check=True)
                subprocess.run(["ip", "-n", host, "link", "set", f"vs{n}", "up"], check=True)
            yield host, [p.pid for p in procs], str(tmp_path)
        finally:
            for p in procs:
                p.kill()
                p.wait()


def test_two_sleep_processes_are_two_containers_with_distinct_names(two_sleeps):
    host, pids, state = two_sleeps
    r = vnet("show", "--netns", host, "--json", state=state)
    assert r.returncode == 0, r.stderr
    cts = json.loads(r.stdout)["containers"]
    assert sorted(c["name"] for c in cts) == ["sleep", "sleep"]
    assert sorted(c["display"] for c in cts) == ["sleep#1", "sleep#2"]
    assert {c["runtime"] for c in cts} == {"process"}
    assert sorted(c["id"] for c in cts) == sorted(f"pid:{p}" for p in pids)
    by_pid = {c["netns"]["pids"][0]: c for c in cts}
    for n, pid in enumerate(pids, 1):
        end = next(i for i in by_pid[pid]["interfaces"] if i["ifname"] == "eth0")
        assert end["peer"]["ifname"] == f"vs{n}"  # each display name holds its own adapter


def test_a_target_naming_both_is_refused_and_each_name_reaches_its_own(two_sleeps):
    host, pids, state = two_sleeps
    r = vnet("adapter", "add", "sleep", "--netns", host, "--dry-run", "--json", state=state)
    assert r.returncode == 2, r.stdout + r.stderr
    err = json.loads(r.stdout)["error"]
    assert err["rule"] == "target-ambiguous"
    assert "sleep#1" in err["message"] and "sleep#2" in err["message"]
    for pid in pids:
        assert f"pid:{pid}" in err["message"]
    r = vnet("pair-test", "sleep", "eth0", "--netns", host, "--json", state=state)
    assert r.returncode == 2, r.stdout + r.stderr
    for pid in pids:
        r = vnet("adapter", "add", f"pid:{pid}", "--netns", host, "--dry-run", "--json", state=state)
        assert r.returncode == 0, r.stdout + r.stderr
        out = json.loads(r.stdout)
        shown = json.loads(vnet("show", "--netns", host, "--json", state=state).stdout)
        display = next(c["display"] for c in shown["containers"] if pid in c["netns"]["pids"])
        assert out["target"] == display
