"""owners/docker with dockerd in a pid namespace of its own (as inside an LXC container):
the pids it reports are its namespace's, and scan gives ours."""

from __future__ import annotations

import os

import pytest

from tests.runtimes.docker import IMAGE, DockerUnavailable, docker_runtime
from vnet_tui.owners import docker
from vnet_tui.owners.base import ProcTable

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def rt():
    cm = docker_runtime(populate=False, pid_namespace=True)
    try:
        runtime = cm.__enter__()
    except DockerUnavailable as e:
        pytest.skip(f"NOT TESTED: dockerd cannot run here: {e}")
    try:
        runtime.cli("run", "-d", "--name", "in1", IMAGE, "sleep", "1000000")
        runtime.cli("run", "-d", "--name", "in2", IMAGE, "sleep", "1000000")
        yield runtime
    finally:
        cm.__exit__(None, None, None)


def test_pids_are_translated_to_ours(rt):
    found = {o.name: o for o in docker.scan(ProcTable()) if o.control.get("daemon_pid") == rt.pid}
    assert set(found) == {"in1", "in2"}
    assert found["in1"].control["pid_level"] == 1
    for name in ("in1", "in2"):
        info = rt.inspect(name)
        inner = info["State"]["Pid"]
        (pid,) = found[name].pids
        assert pid != inner  # docker's number is its own namespace's
        with open(f"/proc/{pid}/status") as f:
            nspid = next(l.split()[1:] for l in f if l.startswith("NSpid:"))
        assert int(nspid[1]) == inner
        sandbox = os.stat(rt.path(info["NetworkSettings"]["SandboxKey"])).st_ino
        assert os.stat(f"/proc/{pid}/ns/net").st_ino == sandbox
