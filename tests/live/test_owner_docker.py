"""owners/docker against a real dockerd (in a netns of its own): names, ids, images, states,
the processes inside, networks, the on-disk fallback, and network connect/disconnect."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.runtimes.docker import SOCKET, SOCKET_FLAG, DockerUnavailable, docker_runtime
from vnet_tui.core.errors import InvalidInput
from vnet_tui.owners import docker, docker_engine
from vnet_tui.owners.base import Owned, ProcTable

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def rt():
    cm = docker_runtime()
    try:
        runtime = cm.__enter__()
    except DockerUnavailable as e:
        pytest.skip(f"NOT TESTED: dockerd cannot run here: {e}")
    try:
        yield runtime
    finally:
        cm.__exit__(None, None, None)


def ours(rt) -> dict[str, Owned]:
    """What scan says about our dockerd's containers, by name."""
    recs = [o for o in docker.scan(ProcTable()) if o.control.get("daemon_pid") == rt.pid]
    by_name = {o.name: o for o in recs}
    assert len(by_name) == len(recs), f"two records with one name: {[o.name for o in recs]}"
    return by_name


def links_in(pid: int) -> list[dict]:
    """``ip -j link`` inside the network namespace of process ``pid``."""
    out = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-d", "-j", "link", "show"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out or "[]")


def links_of_daemon(rt) -> list[dict]:
    out = subprocess.run(["ip", "-j", "-n", rt.netns, "link", "show"], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out or "[]")


def test_scan_names_ids_images_states_equal_docker_ps(rt):
    ps = {c["Names"]: c for c in rt.ps()}
    assert set(ps) == {"web1", "db1", "pz1", "ex1"}
    found = ours(rt)
    assert set(found) == set(ps)
    for name, c in ps.items():
        o = found[name]
        assert (o.runtime, o.kind) == ("docker", "container")
        assert o.id == c["ID"] and len(o.id) == 64, name
        assert o.image == c["Image"], name
        assert o.state == c["State"], name
        assert o.details["source"] == "api"
    assert [found[n].state for n in ("web1", "db1", "pz1", "ex1")] == ["running", "running", "paused", "exited"]
    # dockerd has mounts of its own: its socket is reached through /proc/PID/root, with /var/run
    # (-> /run) resolved inside its root, not ours
    assert found["web1"].control["socket_in_daemon"] == SOCKET_FLAG
    assert found["web1"].control["socket"] == rt.socket == f"/proc/{rt.pid}/root{SOCKET}"
    assert found["web1"].control["api_version"] == "1.41"


def test_pids_are_inside_each_container_netns(rt):
    found = ours(rt)
    for name in ("web1", "db1", "pz1"):
        info = rt.inspect(name)
        o = found[name]
        assert o.pids == [info["State"]["Pid"]], name
        sandbox = os.stat(rt.path(info["NetworkSettings"]["SandboxKey"])).st_ino
        assert os.stat(f"/proc/{o.pids[0]}/ns/net").st_ino == sandbox, name
        assert o.details["sandbox_key"] == info["NetworkSettings"]["SandboxKey"]
        assert o.details["pid_from"] == "disk"  # its config.v2.json, checked against the pid's cgroup
    assert found["ex1"].pids == []
    # distinct containers, distinct namespaces
    assert len({os.stat(f"/proc/{found[n].pids[0]}/ns/net").st_ino for n in ("web1", "db1", "pz1")}) == 3


def test_networks_bridges_and_endpoints(rt):
    found = ours(rt)
    net2_id = json.loads(rt.cli("network", "inspect", "net2").stdout)[0]["Id"]
    bridges = {l["ifname"] for l in links_of_daemon(rt)}
    for name, net, bridge in (("web1", "bridge", "docker0"), ("db1", "net2", f"br-{net2_id[:12]}")):
        o = found[name]
        assert [n["name"] for n in o.details["networks"]] == [net]
        ep = o.details["networks"][0]
        info = rt.inspect(name)["NetworkSettings"]["Networks"][net]
        assert ep["bridge"] == bridge and bridge in bridges
        assert ep["id"] == info["NetworkID"]
        assert ep["mac"] == info["MacAddress"]
        assert ep["ipv4"] == f"{info['IPAddress']}/{info['IPPrefixLen']}"
        # the container's own end in the kernel carries the MAC docker reports
        assert info["MacAddress"] in {l.get("address") for l in links_in(o.pids[0])}
        assert docker.network_of_bridge(o, bridge) == net
    engine = {n["name"]: n for n in found["web1"].details["engine_networks"]}
    assert set(engine) == {"bridge", "host", "none", "net2"}
    assert engine["net2"]["bridge"] == f"br-{net2_id[:12]}" and engine["host"]["bridge"] is None
    assert docker.network_of_bridge(found["ex1"].details, f"br-{net2_id[:12]}") == "net2"
    assert docker.network_of_bridge(found["web1"], "br0") is None


def test_pids_from_the_api_when_the_data_root_is_unreadable(rt):
    procs = ProcTable()
    daemon = docker.Daemon(procs, rt.pid)
    daemon.data_root = "/nonexistent/vt-dk"
    found = {o.name: o for o in docker.scan_daemon(procs, daemon)}
    for name in ("web1", "db1", "pz1"):
        info = rt.inspect(name)
        assert found[name].pids == [info["State"]["Pid"]]
        assert found[name].details["pid_from"] == "api"
        assert found[name].details["sandbox_key"] == info["NetworkSettings"]["SandboxKey"]


def test_a_container_in_another_containers_netns(rt):
    """``--network container:web1``: its pid is one more holder of web1's namespace, and it says so."""
    rt.cli("run", "-d", "--name", "side1", "--network", "container:web1", "vt-busybox:1", "sleep", "1000000")
    try:
        found = ours(rt)
        side, web1 = found["side1"], found["web1"]
        assert side.details["network_mode"] == f"container:{web1.id}" and side.details["netns_of"] == web1.id
        assert web1.details["netns_of"] is None and web1.details["network_mode"] == "default"
        assert os.stat(f"/proc/{side.pids[0]}/ns/net").st_ino == os.stat(f"/proc/{web1.pids[0]}/ns/net").st_ino
        assert side.details["networks"] == []
    finally:
        rt.cli("rm", "-f", "side1")


def _check_disk_records(rt, found):
    ps = {c["Names"]: c for c in rt.ps()}
    assert set(found) == set(ps)
    for name, c in ps.items():
        o = found[name]
        assert o.details["source"] == "disk", name
        assert (o.id, o.image, o.state) == (c["ID"], c["Image"], c["State"]), name
    for name in ("web1", "db1", "pz1"):
        assert found[name].pids == [rt.inspect(name)["State"]["Pid"]]
    assert found["ex1"].pids == []
    assert found["db1"].details["networks"][0]["name"] == "net2"


def test_socket_gone_falls_back_to_disk(rt):
    sock = rt.path(SOCKET)
    moved = sock + ".away"
    os.rename(sock, moved)
    try:
        found = ours(rt)
    finally:
        os.rename(moved, sock)
    _check_disk_records(rt, found)
    assert "FileNotFoundError" in found["web1"].details["note"]


def test_hung_daemon_falls_back_to_disk(rt):
    os.kill(rt.pid, signal.SIGSTOP)
    try:
        found = ours(rt)
        again = ours(rt)  # not asked again for a while: straight to the disk
    finally:
        os.kill(rt.pid, signal.SIGCONT)
    assert "TimeoutError" in found["web1"].details["note"]
    assert "not asked again for" in again["web1"].details["note"]
    _check_disk_records(rt, found)
    _check_disk_records(rt, again)
    docker._hung.clear()  # it answers again; the next scan asks it
    assert ours(rt)["web1"].details["source"] == "api"


def test_connect_and_disconnect_through_docker(rt):
    db1 = ours(rt)["db1"]
    pid = db1.pids[0]
    before = {l["ifname"] for l in links_in(pid)}
    host_before = {l["ifname"] for l in links_of_daemon(rt)}

    ep = docker.connect(db1.control, db1.id, "bridge")
    try:
        nets = rt.inspect("db1")["NetworkSettings"]["Networks"]
        assert set(nets) == {"net2", "bridge"}
        assert ep["name"] == "bridge" and ep["bridge"] == "docker0"
        assert ep["mac"] == nets["bridge"]["MacAddress"]
        assert ep["ipv4"] == f"{nets['bridge']['IPAddress']}/{nets['bridge']['IPPrefixLen']}"
        inside = {l["ifname"]: l for l in links_in(pid)}
        new = set(inside) - before
        assert len(new) == 1, inside.keys()
        (ifname,) = new
        assert inside[ifname]["address"] == ep["mac"]
        assert inside[ifname]["linkinfo"]["info_kind"] == "veth"
        host_new = [l for l in links_of_daemon(rt) if l["ifname"] not in host_before]
        assert len(host_new) == 1 and host_new[0].get("master") == "docker0"
        # scan sees it too
        again = ours(rt)["db1"]
        assert {n["name"] for n in again.details["networks"]} == {"net2", "bridge"}

        with pytest.raises(InvalidInput) as e:
            docker.connect(db1.control, db1.id, "bridge")
        assert e.value.rule == "docker-refused" and "already exists" in str(e.value)
    finally:
        docker.disconnect(db1.control, db1.id, "bridge")

    assert set(rt.inspect("db1")["NetworkSettings"]["Networks"]) == {"net2"}
    assert {l["ifname"] for l in links_in(pid)} == before
    assert {l["ifname"] for l in links_of_daemon(rt)} == host_before


def test_connect_with_a_chosen_address(rt):
    """docker takes a chosen address only on a network whose subnet the user configured."""
    rt.cli("network", "create", "--ipv6", "--subnet", "198.18.77.0/24", "--subnet", "fd00:5654:77::/64", "net3")
    try:
        web1 = ours(rt)["web1"]
        ep = docker.connect(web1.control, web1.id, "net3", ipv4="198.18.77.200/24", ipv6="fd00:5654:77::c8/64")
        try:
            assert ep["ipv4"] == "198.18.77.200/24" and ep["name"] == "net3"
            assert ep["ipv6"] == "fd00:5654:77::c8/64"
            info = rt.inspect("web1")["NetworkSettings"]["Networks"]["net3"]
            assert (info["IPAddress"], info["GlobalIPv6Address"]) == ("198.18.77.200", "fd00:5654:77::c8")
            out = subprocess.run(["nsenter", f"--net=/proc/{web1.pids[0]}/ns/net", "ip", "-j", "addr"],
                                 check=True, capture_output=True, text=True).stdout
            addrs = json.loads(out)
            on = [a for a in addrs if any(x.get("local") == "198.18.77.200" for x in a.get("addr_info", []))]
            assert len(on) == 1 and on[0]["address"] == ep["mac"]
            assert "fd00:5654:77::c8" in {x.get("local") for x in on[0].get("addr_info", [])}
        finally:
            docker.disconnect(web1.control, web1.id, "net3")
        assert set(rt.inspect("web1")["NetworkSettings"]["Networks"]) == {"bridge"}
        with pytest.raises(InvalidInput) as e:  # net2 was made without --subnet: no chosen address
            docker.connect(web1.control, web1.id, "net2", ipv4="172.18.0.200")
        assert "user configured subnets" in str(e.value)
    finally:
        rt.cli("network", "rm", "net3", check=False)


def test_a_socket_path_longer_than_sun_path(rt):
    """/proc/PID/root/… paths easily pass 107 bytes: reached through an O_PATH descriptor."""
    from vnet_tui.owners.http_unix import UnixHTTP

    deep = rt.scratch / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    link = deep / "docker.sock"
    link.symlink_to(rt.socket)
    assert len(str(link)) > 107
    with UnixHTTP(str(link)) as api:
        assert api.request("GET", "/_ping") == (200, b"OK")


def _vnet_tui(rt, tmp_path, *args):
    env = dict(os.environ, VNET_TUI_STATE=str(tmp_path / "state"))
    return subprocess.run([sys.executable, "-m", "vnet_tui", *args, "--netns", rt.netns], env=env,
                          capture_output=True, text=True, timeout=120)


def test_show_names_docker_containers_as_docker_does(rt, tmp_path):
    """End to end: ``vnet-tui show --netns NS --json`` on dockerd's namespace (CLI.md's contract)."""
    r = _vnet_tui(rt, tmp_path, "show", "--json")
    assert r.returncode == 0, r.stderr
    shown = {c["name"]: c for c in json.loads(r.stdout)["containers"] if c.get("runtime") == "docker"}
    ps = {c["Names"]: c for c in rt.ps()}
    assert set(shown) == {"web1", "db1", "pz1"}  # ex1 has no network namespace to show
    for name, c in shown.items():
        assert (c["id"], c["image"], c["state"], c["display"]) == (ps[name]["ID"], ps[name]["Image"],
                                                                   ps[name]["State"], name)
        eth0 = next(i for i in c["interfaces"] if i["ifname"] == "eth0")
        assert eth0["mac"] == rt.inspect(name)["NetworkSettings"]["Networks"][
            "net2" if name == "db1" else "bridge"]["MacAddress"]
        assert eth0["peer"]["netns"] == rt.netns  # paired with its host end in dockerd's namespace


def test_adding_on_a_docker_bridge_goes_through_docker(rt, tmp_path):
    r = _vnet_tui(rt, tmp_path, "adapter", "add", "db1", "--bridge", "docker0", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "docker network connect bridge db1" in r.stdout and "kept by docker" in r.stdout
    assert set(rt.inspect("db1")["NetworkSettings"]["Networks"]) == {"net2"}  # a dry run


def test_changes_the_engine_refuses(rt):
    db1 = ours(rt)["db1"]
    with pytest.raises(InvalidInput) as e:
        docker.connect(db1.control, db1.id, "no-such-net")
    assert e.value.rule == "docker-refused" and "not found" in str(e.value)
    with pytest.raises(InvalidInput) as e:
        docker.disconnect(db1.control, db1.id, "bridge")
    assert e.value.rule == "docker-refused" and "not connected" in str(e.value)
    with pytest.raises(InvalidInput) as e:  # API 1.41 ignores a per-network MAC: refused, not dropped
        docker.connect(db1.control, db1.id, "bridge", mac="02:00:5e:00:00:09")
    assert e.value.rule == "docker-mac-unsupported"
    assert set(rt.inspect("db1")["NetworkSettings"]["Networks"]) == {"net2"}


def test_no_dockerd_costs_a_comm_lookup():
    """With no dockerd or shim in the process table, scan returns nothing and reads no command line."""
    procs = ProcTable()
    for pid in procs.with_comm("dockerd", "containerd-shim"):  # other dockerds (ours or anyone's)
        del procs.comms[pid]
    assert docker.scan(procs) == []
    assert procs._argv == {}


def test_no_dockerd_loads_no_http_client():
    """http.client (~20 ms to import) is loaded only once a dockerd is found."""
    code = (
        "import sys\n"
        "from vnet_tui.owners import docker\n"
        "from vnet_tui.owners.base import ProcTable\n"
        "procs = ProcTable()\n"
        "for pid in procs.with_comm('dockerd', 'containerd-shim'):\n"
        "    del procs.comms[pid]\n"
        "assert docker.scan(procs) == []\n"
        "print(sorted(m for m in ('http.client', 'vnet_tui.owners.http_unix') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_where_a_daemon_listens():
    assert docker_engine._unix_socket(docker_engine._hosts(["dockerd"])) == "/var/run/docker.sock"
    assert docker_engine._unix_socket(docker_engine._hosts(["dockerd", "-H", "fd://"])) == "/var/run/docker.sock"
    assert docker_engine._unix_socket(docker_engine._hosts(["dockerd", "-H", "tcp://0.0.0.0:2375", "--host=unix:///x/d.sock"])) \
        == "/x/d.sock"
    assert docker_engine._unix_socket(docker_engine._hosts(["dockerd", "-Hunix:///y.sock"])) == "/y.sock"
    assert docker_engine._unix_socket(docker_engine._hosts(["dockerd", "-H", "tcp://1.2.3.4:2375"])) is None
    assert docker_engine._unix_socket([], "/run/user/1000/docker.sock") == "/run/user/1000/docker.sock"


def test_rootless_defaults_from_a_real_process_environment():
    """A daemon run by a user under RootlessKit listens on $XDG_RUNTIME_DIR/docker.sock (not started here:
    rootlesskit is not installed; this proves the defaults are read from such a process)."""
    env = {"ROOTLESSKIT_STATE_DIR": "/run/user/65534/dockerd-rootless", "XDG_RUNTIME_DIR": "/run/user/65534",
           "HOME": "/nonexistent/u"}
    p = subprocess.Popen(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "sleep", "30"],
                         env=env)
    try:
        for _ in range(500):  # until setpriv has dropped root and become sleep
            if os.stat(f"/proc/{p.pid}").st_uid == 65534 and open(f"/proc/{p.pid}/comm").read().strip() == "sleep":
                break
            time.sleep(0.01)
        got = docker_engine._rootless_defaults(ProcTable(), p.pid)
        assert got == {"socket": "/run/user/65534/docker.sock", "data_root": "/nonexistent/u/.local/share/docker",
                       "config": "/nonexistent/u/.config/docker/daemon.json"}
        assert docker_engine._rootless_defaults(ProcTable(), os.getpid()) is None  # root: the system defaults
    finally:
        p.kill()
        p.wait()
