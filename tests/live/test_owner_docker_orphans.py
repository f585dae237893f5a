"""owners/docker when dockerd is gone and its containers still run (a crash, live-restore):
found by their containerd-shim, named from the data root on disk."""

from __future__ import annotations

import os
import signal

import pytest

from tests.runtimes.docker import DockerUnavailable, docker_runtime
from vnet_tui.core.errors import ChangeFailed
from vnet_tui.owners import docker
from vnet_tui.owners.base import ProcTable

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def orphaned():
    """The usual four containers, what docker said about them, then dockerd killed (SIGKILL)."""
    cm = docker_runtime()
    try:
        rt = cm.__enter__()
    except DockerUnavailable as e:
        pytest.skip(f"NOT TESTED: dockerd cannot run here: {e}")
    try:
        said = {c["Names"]: c for c in rt.ps()}
        pids = {n: rt.inspect(n)["State"]["Pid"] for n in ("web1", "db1", "pz1")}
        os.kill(rt.pid, signal.SIGKILL)
        os.waitpid(rt.pid, 0)  # it is our child (ip netns exec and unshare exec'd into it)
        yield rt, said, pids
    finally:
        cm.__exit__(None, None, None)


def test_running_containers_named_without_their_daemon(orphaned):
    rt, said, pids = orphaned
    procs = ProcTable()
    assert rt.pid not in procs.with_comm("dockerd")
    found = {o.name: o for o in docker.scan(procs) if o.id in {c["ID"] for c in said.values()}}
    assert set(found) == {"web1", "db1", "pz1"}  # ex1 has no process, hence no shim
    for name, o in found.items():
        assert (o.id, o.image, o.state) == (said[name]["ID"], said[name]["Image"], said[name]["State"])
        assert o.pids == [pids[name]]
        assert o.details["source"] == "disk" and "dockerd is not running" in o.details["note"]
        assert o.control["data_root"] == "/run/vt-dk/data" and o.control["socket"] is None
    assert found["db1"].details["networks"][0]["name"] == "net2"


def test_no_change_without_the_daemon(orphaned):
    rt, said, _ = orphaned
    db1 = {o.name: o for o in docker.scan(ProcTable())}["db1"]
    with pytest.raises(ChangeFailed) as e:
        docker.connect(db1.control, db1.id, "bridge")
    assert e.value.rule == "docker-unreachable"
