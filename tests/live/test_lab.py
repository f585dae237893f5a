"""The lab against the real kernel: what `lab up` builds, and that `lab down` leaves nothing.

Every lab here has a unique name and is taken down in a finally (or by the
``lab`` context manager); the suite guard checks the root namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from tests.helpers import ip_json, unique
from vnet_tui.core.errors import ChangeFailed, InvalidInput, NotFound
from vnet_tui.lab import build, down, lab, list_labs, load, names, up
from vnet_tui.lab import registry
from vnet_tui.lab.vms import find_qemu

pytestmark = pytest.mark.live
needs_qemu = pytest.mark.skipif(find_qemu() is None, reason="qemu-system-x86_64 not installed")
CLI = [sys.executable, "-m", "vnet_tui"]
# with and without a VM: the VM case starts QEMU
VMS = [0, pytest.param(1, marks=[pytest.mark.qemu, needs_qemu], id="vm")]


@pytest.fixture(autouse=True)
def state_dir(monkeypatch):
    """Each test keeps its lab files in a folder of its own (the CLI inherits it)."""
    path = tempfile.mkdtemp(prefix="vnet-lab-")
    monkeypatch.setenv(registry.STATE_ENV, path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def netns_names() -> set[str]:
    return {n["name"] for n in ip_json("netns", "list")}


def link(netns: str, ifname: str) -> dict:
    return ip_json("-d", "link", "show", ifname, netns=netns)[0]


def addrs(netns: str, ifname: str) -> set[str]:
    info = ip_json("addr", "show", ifname, netns=netns)[0]
    return {f"{a['local']}/{a['prefixlen']}" for a in info.get("addr_info", [])}


def netns_inode(name: str) -> int:
    return os.stat(f"/run/netns/{name}").st_ino


def pid_netns_inode(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def qmp(path: str, *commands: str) -> list[dict]:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    f = s.makefile("rw")
    try:
        assert "QMP" in json.loads(f.readline())
        out = []
        for cmd in ("qmp_capabilities",) + commands:
            f.write(json.dumps({"execute": cmd}) + "\n")
            f.flush()
            while True:
                msg = json.loads(f.readline())
                if "return" in msg or "error" in msg:
                    break
            out.append(msg)
        return out[1:]
    finally:
        f.close()
        s.close()


def assert_gone(name: str, pids: list[int], files: list[str]) -> None:
    assert not [n for n in netns_names() if n.startswith(f"vl-{name}-")]
    assert not [p for p in pids if alive(p)]
    assert not [f for f in files if os.path.exists(f)]
    assert not os.path.exists(registry.lab_dir(name))
    assert not registry.lab_processes(name)


def check_containers(info) -> None:
    br = link(info.host_netns, "br0")
    assert [b.name for b in info.bridges] == [f"br{i}" for i in range(len(info.bridges))]
    for c in info.containers:
        eth0 = link(c.netns, "eth0")
        assert eth0["address"] == c.mac and eth0["operstate"] == "UP"
        assert {c.ipv4, c.ipv6} <= addrs(c.netns, "eth0")
        assert "UP" in link(c.netns, "lo")["flags"]
        host = link(info.host_netns, c.host_ifname)
        assert host["address"] == c.host_mac and host["operstate"] == "UP"
        assert host["master"] == c.bridge and host["linkinfo"]["info_kind"] == "veth"
        # the pair: each end's peer index is the other's, and the peer lives in the container's namespace
        assert host["link_index"] == eth0["ifindex"] and eth0["link_index"] == host["ifindex"]
        ids = {n["nsid"]: n.get("name") for n in ip_json("netns", "list-id", netns=info.host_netns)}
        assert ids[host["link_netnsid"]] == c.netns
        # the holder process: alive, inside the namespace, with its own hostname
        assert alive(c.pid) and pid_netns_inode(c.pid) == netns_inode(c.netns)
        out = subprocess.run(["nsenter", "-t", str(c.pid), "-u", "hostname"], capture_output=True, text=True)
        assert out.stdout.strip() == c.hostname
    assert br["address"] == info.bridge_mac
    assert {info.bridge_ipv4, info.bridge_ipv6} <= addrs(info.host_netns, "br0")


def check_vms(info) -> None:
    for v in info.vms:
        tap = link(info.host_netns, v.tap)
        assert tap["linkinfo"]["info_kind"] == "tun" and tap["master"] == "br0"
        assert tap["address"] == v.host_mac and "UP" in tap["flags"]
        assert alive(v.pid) and pid_netns_inode(v.pid) == netns_inode(info.host_netns)
        with open(f"/proc/{v.pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        assert b"-S" in argv and f"guest={v.name}".encode() in argv
        status, rx = qmp(v.qmp, "query-status", "query-rx-filter")
        assert status["return"]["running"] is False
        nic = {r["name"]: r for r in rx["return"]}[v.adapter]
        assert nic["main-mac"] == v.guest_mac


@needs_qemu
@pytest.mark.qemu
def test_lab_with_containers_and_vms_is_what_cli_md_says():
    name = unique()
    with lab(name, containers=3, vms=2, seed=4) as info:
        assert info.host_netns == f"vl-{name}-host"
        assert info.container_names == ["ct101", "ct102", "ct103"]
        assert info.vm_names == ["vm201", "vm202"]
        assert {f"vl-{name}-host", f"vl-{name}-ct101", f"vl-{name}-ct102", f"vl-{name}-ct103"} <= netns_names()
        check_containers(info)
        check_vms(info)
        assert load(name) == info  # lab.json records the same
        summary = {l.name: l for l in list_labs()}[name]
        assert (summary.status, summary.containers, summary.vms) == ("up", 3, 2)
    assert_gone(name, [c.pid for c in info.containers] + [v.pid for v in info.vms] + [info.keeper_pid],
                [v.qmp for v in info.vms])


# A UDP echo.  The sender tries again every 0.5 s for 10 s: on a segment just built, a first datagram
# can be lost while the kernel works through every container's multicast reports (it waits behind
# neighbour discovery, whose solicitations can be dropped then); a segment that does not carry it
# still fails.  The sender says on stderr how many it sent.
ECHO = (
        "import socket,sys,time\n"
        "fam=socket.AF_INET6 if ':' in sys.argv[2] else socket.AF_INET\n"
        "s=socket.socket(fam,socket.SOCK_DGRAM)\n"
        "if sys.argv[1]=='serve':\n"
        "  s.settimeout(30);s.bind((sys.argv[2],5454));print('ready',flush=True)\n"
        "  while True:\n"
        "    d,a=s.recvfrom(64);s.sendto(d,a)\n"
        "else:\n"
        "  s.settimeout(0.5);end=time.monotonic()+10;n=0\n"
        "  while True:\n"
        "    s.sendto(b'hi',(sys.argv[2],5454));n+=1\n"
        "    try:\n"
        "      print(s.recvfrom(64)[0].decode());print('sent',n,file=sys.stderr);break\n"
        "    except socket.timeout:\n"
        "      if time.monotonic()>end:raise\n"
)


def check_reach(a, b) -> None:
    """Container ``a`` gets a UDP echo from container ``b`` over IPv4 and IPv6."""
    for dst in (b.ipv4.split("/")[0], b.ipv6.split("/")[0]):
        server = subprocess.Popen(["ip", "netns", "exec", b.netns, sys.executable, "-c", ECHO, "serve", dst],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout.readline().strip() == "ready"
            out = subprocess.run(["ip", "netns", "exec", a.netns, sys.executable, "-c", ECHO, "send", dst],
                                 capture_output=True, text=True, timeout=20)
            assert out.stdout.strip() == "hi", (a.name, b.name, dst, out.stderr)
        finally:
            server.kill()
            server.wait()


def check_reach_gateway(info, containers) -> None:
    host = info.bridge_ipv4.split("/")[0]
    for c in containers:
        out = subprocess.run(["ip", "netns", "exec", c.netns, "python3", "-c",
                              f"import socket;s=socket.create_connection(('{host}',9),timeout=3)"],
                             capture_output=True, text=True)
        assert "refused" in out.stderr.lower(), (c.name, out.stderr)  # an RST from br0: reachable


def test_containers_reach_the_host_and_each_other():
    with lab(unique(), containers=2, vms=0) as info:
        a, b = info.containers
        check_reach(a, b)
        check_reach_gateway(info, info.containers)


@pytest.mark.parametrize("vms", VMS)
def test_lab_down_leaves_nothing(vms):
    name = unique()
    info = up(name, containers=3, vms=vms)
    try:
        pids = [c.pid for c in info.containers] + [v.pid for v in info.vms] + [info.keeper_pid]
        files = [v.qmp for v in info.vms] + [info.state_dir]
        assert all(alive(p) for p in pids)
    finally:
        down(name)
    assert_gone(name, pids, files)
    with pytest.raises(NotFound):
        down(name)


def test_same_name_twice_is_refused_and_the_first_lab_is_intact():
    name = unique()
    with lab(name, containers=2, vms=0) as info:
        before = registry.lab_namespaces(name)
        with pytest.raises(InvalidInput) as e:
            up(name, containers=1, vms=0)
        assert e.value.rule == "lab-exists" and e.value.code == 2
        r = cli("lab", "up", name, "--vms", "0", "--json")
        assert r.returncode == 2 and json.loads(r.stdout)["error"]["rule"] == "lab-exists"
        assert registry.lab_namespaces(name) == before
        assert all(alive(c.pid) for c in info.containers) and alive(info.keeper_pid)
        check_containers(info)


def test_a_lab_records_an_instance_id_that_changes_when_rebuilt():
    name = unique()
    assert registry.instance_id(name) is None  # no lab: no instance
    with lab(name, containers=1, vms=0) as info:
        first = registry.instance_id(name)
        assert first and first == info.instance and load(name).instance == first
        listed = {l["name"]: l for l in json.loads(cli("lab", "list", "--json").stdout)["labs"]}
        assert listed[name]["instance"] == first
    assert registry.instance_id(name) is None  # taken down: gone with it
    with lab(name, containers=1, vms=0) as info:
        second = registry.instance_id(name)
        assert second and second == info.instance
    assert first != second


@pytest.mark.parametrize("bad", ["Bad", "toolong12", "a-b", "a_b", "x.y", "-x", "ä", "a b", ""])
def test_invalid_names_exit_2_and_build_nothing(bad):
    r = cli("lab", "up", "--vms", "0", "--json", "--", bad)
    assert r.returncode == 2, r.stderr
    assert json.loads(r.stdout)["error"]["rule"] == "lab-name"
    assert not [n for n in netns_names() if n.startswith(f"vl-{bad}-")]


def test_down_of_an_unknown_lab_exits_4():
    r = cli("lab", "down", unique())
    assert r.returncode == 4 and "no lab" in r.stderr


def test_without_qemu_the_containers_are_built_and_no_vms():
    name = unique()
    try:
        r = cli("lab", "up", name, "--containers", "2", "--vms", "2", "--json",
                env={"VNET_TUI_QEMU": "/nonexistent/qemu-system-x86_64"})
        assert r.returncode == 0, r.stderr
        assert "built no VMs: qemu-system-x86_64 not found" in r.stderr
        info = json.loads(r.stdout)
        assert [c["name"] for c in info["containers"]] == ["ct101", "ct102"] and info["vms"] == []
        listed = json.loads(cli("lab", "list", "--json").stdout)["labs"]
        assert {l["name"]: (l["containers"], l["vms"]) for l in listed}[name] == (2, 0)
    finally:
        r = cli("lab", "down", name)
    assert r.returncode == 0, r.stderr
    assert_gone(name, [], [])


@pytest.mark.parametrize("vms", VMS)
def test_a_failed_up_removes_what_it_made(monkeypatch, vms):
    name = unique()
    real = build._Builder.build_containers
    seen: list[int] = []

    def build_one_then_fail(self, batch):
        real(self, batch[:1])  # one container fully made (veth, addresses), the others half
        seen.extend(self.ct_pids.values())
        raise OSError(28, "injected failure")

    monkeypatch.setattr(build._Builder, "build_containers", build_one_then_fail)
    try:
        with pytest.raises(ChangeFailed) as e:
            up(name, containers=3, vms=vms)
        assert "injected failure" in str(e.value) and e.value.code == 1
    finally:
        if registry.lab_namespaces(name) or os.path.exists(registry.lab_dir(name)):
            down(name)
    assert seen
    assert_gone(name, seen, [])


@pytest.mark.parametrize("vms", VMS)
def test_a_half_made_lab_can_still_be_taken_down(vms):
    name = unique()
    info = up(name, containers=2, vms=vms)
    pids = [c.pid for c in info.containers] + [v.pid for v in info.vms] + [info.keeper_pid]
    shutil.rmtree(info.state_dir)  # lost its state: only namespaces and processes say it exists
    try:
        summary = {l.name: l for l in list_labs()}[name]
        assert summary.status == "incomplete" and summary.containers == 2
    finally:
        r = cli("lab", "down", name)
    assert r.returncode == 0, r.stderr
    assert_gone(name, pids, [v.qmp for v in info.vms])


def test_a_lab_of_100_containers(capsys):
    name = unique()
    t0 = time.monotonic()
    info = up(name, containers=100, vms=0)
    t_up = time.monotonic() - t0
    try:
        assert len(info.containers) == 100
        assert len(registry.lab_namespaces(name)) == 101
        last = info.containers[-1]
        assert link(last.netns, "eth0")["address"] == last.mac
        assert link(info.host_netns, last.host_ifname)["master"] == "br0"
    finally:
        t0 = time.monotonic()
        down(name)
        t_down = time.monotonic() - t0
    with capsys.disabled():
        print(f"\n  lab of 100 containers: up {t_up:.2f} s, down {t_down:.2f} s")
    assert_gone(name, [c.pid for c in info.containers], [])


def demo_args(**kw):
    import argparse

    return argparse.Namespace(**{"containers": 1, "vms": 0, "seed": 0, "boot": False, "own": False,
                                 "keep": False, **kw})


def test_a_second_demo_attaches_to_an_existing_lab_and_never_takes_it_down():
    from vnet_tui.commands import demo

    name = unique()
    with lab(name, containers=1, vms=0) as info:
        d = demo.prepare(demo_args(), base=name)
        assert (d.name, d.owned, d.instance) == (name, False, info.instance)
        assert "attached" in d.message and "did not build" in d.message
        assert "left up" in demo.finish(d, keep=False)
        assert registry.instance_id(name) == info.instance  # the same lab, untouched
        check_containers(info)


def test_a_demo_with_own_builds_its_own_lab_and_removes_only_that():
    from vnet_tui.commands import demo

    name = unique()
    with lab(name, containers=1, vms=0) as info:
        d = demo.prepare(demo_args(own=True), base=name)
        try:
            assert d.owned and d.name == f"{name}2" and d.instance == registry.instance_id(d.name)
            assert f"lab {name}2 built" in d.message and f"lab {name} is up" in d.message
        finally:
            said = demo.finish(d, keep=False)
        assert "removed" in said
        assert not registry.lab_namespaces(f"{name}2") and not os.path.exists(registry.lab_dir(f"{name}2"))
        assert registry.instance_id(name) == info.instance
        check_containers(info)


def test_a_demo_never_removes_a_lab_someone_else_is_building_or_rebuilt():
    from vnet_tui.commands import demo

    name = unique()
    os.makedirs(registry.lab_dir(name))
    registry.write_state(name, {"name": name, "status": "building", "instance": "someone"})
    try:
        d = demo.prepare(demo_args(), base=name)  # not up: a lab of its own, the other left alone
        try:
            assert d.owned and d.name == f"{name}2" and "exists but is not up" in d.message
            assert registry.instance_id(name) == "someone"
            # while it ran, someone took its lab down and built another under the same name
            down(d.name)
            with lab(d.name, containers=1, vms=0) as theirs:
                assert "rebuilt by someone else" in demo.finish(d, keep=False)
                assert registry.instance_id(d.name) == theirs.instance
                check_containers(theirs)
        finally:
            if registry.lab_namespaces(d.name) or os.path.exists(registry.lab_dir(d.name)):
                down(d.name)
    finally:
        shutil.rmtree(registry.lab_dir(name), ignore_errors=True)
    assert registry.instance_id(name) is None


# -- past one bridge ---------------------------------------------------------------------------


def host_links(info) -> dict[str, dict]:
    return {l["ifname"]: l for l in ip_json("-d", "link", "show", netns=info.host_netns)}


def check_bridges(info) -> None:
    """Every bridge as planned, each container's host end on its bridge, br1… linked to br0, ports in bounds."""
    links = host_links(info)
    on: dict[str, int] = {}
    for l in links.values():
        if l.get("master"):
            on[l["master"]] = on.get(l["master"], 0) + 1
    for b in info.bridges:
        assert links[b.name]["linkinfo"]["info_kind"] == "bridge" and links[b.name]["address"] == b.mac
        assert on.get(b.name, 0) <= names.PORTS_PER_BRIDGE < names.BR_MAX_PORTS
        if b.uplink:
            up, downl = links[b.uplink], links[b.downlink]
            assert (up["master"], downl["master"]) == (b.name, "br0")
            assert (up["link"], downl["link"]) == (b.downlink, b.uplink) and "UP" in up["flags"] and "UP" in downl["flags"]
    for c in info.containers:
        assert links[c.host_ifname]["master"] == c.bridge and "UP" in links[c.host_ifname]["flags"]
        assert links[c.host_ifname]["address"] == c.host_mac
    assert sum(b.containers for b in info.bridges) == len(info.containers)
    assert len({c.ipv4 for c in info.containers}) == len({c.ipv6 for c in info.containers}) == len(info.containers)
    # only br0 has the lab's addresses: one segment, one gateway
    assert {info.bridge_ipv4, info.bridge_ipv6} <= addrs(info.host_netns, "br0")
    assert not {a for b in info.bridges[1:] for a in addrs(info.host_netns, b.name) if not a.startswith("fe80")}


def test_a_lab_over_several_bridges_is_one_segment(monkeypatch):
    """A small per-bridge cap: 25 containers on 3 bridges, paired, reachable across bridges, all gone after."""
    monkeypatch.setattr(names, "PORTS_PER_BRIDGE", 10)
    name = unique()
    with lab(name, containers=25, vms=0) as info:
        assert [b.name for b in info.bridges] == ["br0", "br1", "br2"]
        assert [c.bridge for c in info.containers] == \
            [b.name for b in info.bridges for _ in range(b.containers)]
        check_bridges(info)
        check_containers(info)
        assert load(name) == info  # lab.json records the bridges too
        first, last = info.containers[0], info.containers[-1]
        assert (first.bridge, last.bridge) == ("br0", "br2")
        check_reach(last, first)
        check_reach(first, last)
        check_reach(info.containers[12], last)  # br1 -> br2, through br0
        check_reach_gateway(info, [last, info.containers[12]])
    assert_gone(name, [c.pid for c in info.containers] + [info.keeper_pid], [])


def test_bridges_from_the_cli_in_json():
    name = unique()
    try:
        r = cli("lab", "up", name, "--containers", "6", "--vms", "0", "--bridges", "3", "--json")
        assert r.returncode == 0, r.stderr
        data = json.loads(r.stdout)
        assert (data["bridge"], data["bridge_ipv4"]) == ("br0", "198.18.0.1/16")  # as before: br0's
        assert [(b["name"], b["containers"], b["uplink"], b["downlink"]) for b in data["bridges"]] == [
            ("br0", 2, "", ""), ("br1", 2, "br1-br0", "br0-br1"), ("br2", 2, "br2-br0", "br0-br2")]
        assert [c["bridge"] for c in data["containers"]] == ["br0", "br0", "br1", "br1", "br2", "br2"]
        check_bridges(load(name))
        r = cli("lab", "up", unique(), "--containers", "1100", "--vms", "0", "--bridges", "1", "--json")
        assert r.returncode == 2 and json.loads(r.stdout)["error"]["rule"] == "bridge-full"
        assert "BR_MAX_PORTS" in r.stderr or "1,024" in json.loads(r.stdout)["error"]["message"]
    finally:
        r = cli("lab", "down", name)
    assert r.returncode == 0, r.stderr
    assert_gone(name, [], [])


def test_a_lab_past_one_bridge_of_ports_holds():
    """1,100 containers: more than a bridge takes (1,024 ports), so two bridges."""
    name = unique()
    with lab(name, containers=1100, vms=0) as info:
        assert [(b.name, b.containers) for b in info.bridges] == [("br0", 550), ("br1", 550)]
        check_bridges(info)
        assert len(registry.lab_namespaces(name)) == 1101
        for c in (info.containers[0], info.containers[549], info.containers[550], info.containers[-1]):
            eth0 = link(c.netns, "eth0")
            assert eth0["address"] == c.mac and {c.ipv4, c.ipv6} <= addrs(c.netns, "eth0")
            assert host_links(info)[c.host_ifname]["link_index"] == eth0["ifindex"]
        check_reach(info.containers[-1], info.containers[0])
    assert_gone(name, [c.pid for c in info.containers] + [info.keeper_pid], [])


def test_the_kernels_port_limit_is_named_and_rolled_back(monkeypatch):
    """A cap above BR_MAX_PORTS: the kernel refuses port 1,025 (EXFULL); the error says so, nothing stays."""
    monkeypatch.setattr(names, "PORTS_PER_BRIDGE", 2000)
    name = unique()
    try:
        with pytest.raises(ChangeFailed) as e:
            up(name, containers=1030, vms=0)
        msg = str(e.value)
        assert e.value.rule == "bridge-full" and e.value.code == 1
        assert "BR_MAX_PORTS" in msg and "1,024" in msg and "EXFULL" in msg and "br0" in msg
    finally:
        if registry.lab_namespaces(name) or os.path.exists(registry.lab_dir(name)):
            down(name)
    assert_gone(name, [], [])


def test_the_open_file_limit_is_named_and_rolled_back():
    """RLIMIT_NOFILE a few descriptors above what this process holds: EMFILE, named, nothing left."""
    import resource

    name = unique()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 5, hard))
    try:
        with pytest.raises(ChangeFailed) as e:
            up(name, containers=20, vms=0)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        if registry.lab_namespaces(name) or os.path.exists(registry.lab_dir(name)):
            down(name)
    assert e.value.rule == "fd-limit" and "RLIMIT_NOFILE" in str(e.value) and "ulimit -n" in str(e.value)
    assert_gone(name, [], [])


def test_a_big_lab_says_its_progress_on_stderr_only():
    name = unique()
    try:
        r = cli("lab", "up", name, "--containers", "250", "--vms", "0", "--json")
        assert r.returncode == 0, r.stderr
        assert len(json.loads(r.stdout)["containers"]) == 250  # stdout: the JSON, nothing else
        lines = [l for l in r.stderr.splitlines() if l.startswith("containers ")]
        assert lines and lines[-1].startswith("containers 250/250 on 1 bridge (")
        counts = [int(l.split()[1].split("/")[0]) for l in lines]
        assert counts == sorted(counts) and all(l.endswith("…") for l in lines[:-1])
    finally:
        r = cli("lab", "down", name)
    assert r.returncode == 0, r.stderr
    assert_gone(name, [], [])


def test_progress_lines_are_at_most_a_few_a_second():
    said: list[tuple[float, str]] = []
    name = unique()
    with lab(name, containers=300, vms=0, progress=lambda m: said.append((time.monotonic(), m))) as info:
        assert len(info.containers) == 300
    assert said and said[-1][1].startswith("containers 300/300")
    gaps = [b[0] - a[0] for a, b in zip(said[:-2], said[1:-1])]  # the last line comes when done
    assert all(g >= build.PROGRESS_EVERY * 0.99 for g in gaps)
