"""owners/podman against a real rootful podman (netavark, runc) in a netns and mount namespace of its own:
names, ids, images, states, the processes inside, networks, network connect/disconnect, and what a
restart does to a raw veth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtimes import podman as runtime
from vnet_tui.core.errors import ChangeFailed
from vnet_tui.owners import podman
from vnet_tui.owners.base import Owned, ProcTable

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def pm(tmp_path_factory):
    why = runtime.available()
    if why:
        pytest.skip(f"NOT TESTED: podman cannot run here: {why}")
    mp = pytest.MonkeyPatch()
    mp.setenv("VNET_TUI_STATE", str(tmp_path_factory.mktemp("state")))
    try:
        lab = runtime.lab()
    except (RuntimeError, subprocess.SubprocessError) as e:
        mp.undo()
        pytest.skip(f"NOT TESTED: rootful podman does not start here: {e}")
    try:
        yield lab
    finally:
        mp.undo()
        problems = lab.close()
        assert not problems, problems


def ours(pm) -> dict[str, Owned]:
    """What scan says about this podman's containers (its --root), by name."""
    recs = [o for o in podman.scan(ProcTable()) if o.details.get("root") == str(pm.base / "root")]
    by_name = {o.name: o for o in recs}
    assert len(by_name) == len(recs), f"two records with one name: {[o.name for o in recs]}"
    return by_name


def netns_inode(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def netns_cookie(pid: int) -> int:
    """The kernel's never-reused id of process ``pid``'s netns (SO_NETNS_COOKIE); inode numbers are
    reused as soon as a namespace is freed, so a restarted container may get its old one's."""
    code = ("import socket, struct; s = socket.socket(); "
            "print(struct.unpack('Q', s.getsockopt(socket.SOL_SOCKET, 71, 8))[0])")
    out = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c", code],
                         check=True, capture_output=True, text=True).stdout
    return int(out)


def links_in(pid: int) -> dict[str, dict]:
    """``ip -j link`` inside process ``pid``'s network namespace, by name (lo left out)."""
    out = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-j", "link", "show"],
                         check=True, capture_output=True, text=True).stdout
    return {l["ifname"]: l for l in json.loads(out or "[]") if l["ifname"] != "lo"}


def links_of_podman(pm) -> dict[str, dict]:
    out = subprocess.run(["ip", "-j", "-n", pm.ns, "link", "show"], check=True, capture_output=True, text=True).stdout
    return {l["ifname"]: l for l in json.loads(out or "[]")}


def test_scan_names_ids_images_states_equal_podman_ps(pm):
    ps = {c["Names"][0]: c for c in pm.ps()}
    assert set(ps) == {"web1", "api1", "idle1", "note1", "host1", "side1"}
    found = ours(pm)
    assert set(found) == set(ps)
    for name, c in ps.items():
        o = found[name]
        assert (o.runtime, o.kind) == ("podman", "container")
        assert o.id == c["Id"] and len(o.id) == 64, name
        assert o.image == c["Image"], name
        assert o.state == c["State"], name
        assert o.details["source"] == "bolt_state.db"
    assert [found[n].state for n in ("web1", "api1", "idle1", "note1", "host1", "side1")] == \
        ["running", "running", "paused", "created", "running", "running"]


def test_pids_are_inside_each_container_netns(pm):
    # a `podman exec` session has a conmon of its own with the container's id: it is not the container
    pm.podman("exec", "-d", "api1", "sleep", "1000000")
    procs = ProcTable()
    sessions = [c for c in procs.with_comm("conmon") if "-e" in (procs.argv(c) or [])
                and str(pm.base) in " ".join(procs.argv(c) or [])]
    assert len(sessions) == 1
    found = ours(pm)
    for name in ("web1", "api1", "idle1"):
        info = pm.inspect(name)
        o = found[name]
        assert o.pids == [info["State"]["Pid"]], name
        assert netns_inode(o.pids[0]) == pm.sandbox_inode(name), name
        # podman's own process tree: the init is conmon's child
        assert ProcTable().ppid(o.pids[0]) == info["State"]["ConmonPid"] == o.details["conmon_pid"], name
        # conmon (and so podman, netavark) acted in the test's netns and mounts, never the root's
        for kind in ("net", "mnt"):
            assert os.stat(f"/proc/{o.details['conmon_pid']}/ns/{kind}").st_ino == \
                os.stat(f"/proc/{pm.holder_pid}/ns/{kind}").st_ino != os.stat(f"/proc/self/ns/{kind}").st_ino
    assert netns_inode(found["web1"].pids[0]) != netns_inode(found["api1"].pids[0])
    assert found["note1"].pids == []  # created, never started: no process, no network namespace


def test_a_container_without_a_netns_of_its_own_names_none(pm):
    """host1 runs in podman's own netns, side1 in api1's: neither may name that namespace."""
    found = ours(pm)
    host1, side1, api1 = found["host1"], found["side1"], found["api1"]
    assert (host1.details["network_mode"], side1.details["network_mode"]) == ("host", "container")
    assert side1.details["netns_of"] == api1.id
    assert host1.pids == [] and side1.pids == []
    assert host1.details["init_pid"] == pm.inspect("host1")["State"]["Pid"]
    assert side1.details["init_pid"] == pm.inspect("side1")["State"]["Pid"]
    assert netns_inode(host1.details["init_pid"]) == netns_inode(pm.holder_pid)  # the truth they rest on
    assert netns_inode(side1.details["init_pid"]) == netns_inode(api1.pids[0])
    from vnet_tui.owners.registry import scan_all

    owners = scan_all(only=("podman",))
    assert owners.of_pids([side1.details["init_pid"], api1.pids[0]]).name == "api1"
    assert owners.of_pids([host1.details["init_pid"]]) is None


def test_paused_is_the_freezer_and_podman_agrees(pm):
    o = ours(pm)["idle1"]
    cgroup = open(f"/proc/{o.pids[0]}/cgroup").read()
    path = next(l.split(":", 2)[2] for l in cgroup.splitlines() if l.split(":")[1] == "freezer")
    assert open(f"/sys/fs/cgroup/freezer{path}/freezer.state").read().strip() == "FROZEN"
    assert o.state == "paused"
    pm.podman("unpause", "idle1")
    try:
        assert open(f"/sys/fs/cgroup/freezer{path}/freezer.state").read().strip() == "THAWED"
        assert ours(pm)["idle1"].state == "running" == pm.inspect("idle1")["State"]["Status"]
    finally:
        pm.podman("pause", "idle1")
    assert ours(pm)["idle1"].state == "paused" == pm.inspect("idle1")["State"]["Status"]


def test_networks_bridges_and_macs_are_podmans(pm):
    found = ours(pm)
    for name, net, bridge in (("web1", "podman", "podman0"), ("api1", "pnet2", "podman1")):
        o = found[name]
        ep = pm.inspect(name)["NetworkSettings"]["Networks"]
        assert [n["name"] for n in o.details["networks"]] == list(ep) == [net], name
        mine = o.details["networks"][0]
        assert mine["bridge"] == bridge and mine["mac"] == ep[net]["MacAddress"], name
        assert podman.network_of_bridge(o, bridge) == net
        assert podman.network_of_bridge(o.details, bridge) == net
        # the kernel: the bridge is in podman's netns, the container's eth0 has that MAC
        assert links_of_podman(pm)[bridge]["link_type"] == "ether"
        assert links_in(o.pids[0])["eth0"]["address"] == ep[net]["MacAddress"]
    assert podman.network_of_bridge(found["web1"], "br-nosuch") is None
    # podman's network definitions are only in its mount namespace: read through conmon's root
    assert not os.path.exists(runtime.NETWORK_DIR)
    assert os.path.exists(f"/proc/{pm.holder_pid}/root{runtime.NETWORK_DIR}/pnet2.json")
    assert {n["name"]: n["bridge"] for n in found["web1"].details["engine_networks"]} == \
        {"podman": "podman0", "pnet2": "podman1"}
    assert found["web1"].control["argv"][0].endswith("podman")
    for flag in ("--root", "--runroot", "--network-config-dir", "--runtime", "--cgroup-manager", "--storage-driver"):
        assert flag in found["web1"].control["argv"], flag


def test_connect_and_disconnect_through_podman(pm):
    api1 = ours(pm)["api1"]
    pid = api1.pids[0]
    assert set(links_in(pid)) == {"eth0"}
    podman.connect(api1.control, api1.id, "podman")
    try:
        ep = pm.inspect("api1")["NetworkSettings"]["Networks"]
        assert set(ep) == {"pnet2", "podman"}
        inside = links_in(pid)
        assert set(inside) == {"eth0", "eth1"}
        assert inside["eth1"]["address"] == ep["podman"]["MacAddress"]
        again = ours(pm)["api1"]
        assert {n["name"]: n["mac"] for n in again.details["networks"]} == \
            {"pnet2": ep["pnet2"]["MacAddress"], "podman": ep["podman"]["MacAddress"]}
        with pytest.raises(ChangeFailed) as e:
            podman.connect(api1.control, api1.id, "podman")
        assert e.value.rule == "podman-failed" and "already" in str(e.value)
    finally:
        podman.disconnect(api1.control, api1.id, "podman")
    assert set(pm.inspect("api1")["NetworkSettings"]["Networks"]) == {"pnet2"}
    assert set(links_in(pid)) == {"eth0"}
    assert [n["name"] for n in ours(pm)["api1"].details["networks"]] == ["pnet2"]
    # with the operator's address and MAC
    podman.connect(api1.control, api1.id, "podman", ipv4="10.88.0.77", mac="c4:37:72:00:00:77")
    try:
        ep = pm.inspect("api1")["NetworkSettings"]["Networks"]["podman"]
        assert (ep["IPAddress"], ep["MacAddress"]) == ("10.88.0.77", "c4:37:72:00:00:77")
        inside = links_in(pid)
        assert inside["eth1"]["address"] == "c4:37:72:00:00:77"
    finally:
        podman.disconnect(api1.control, api1.id, "podman")
    assert set(links_in(pid)) == {"eth0"}
    with pytest.raises(ChangeFailed) as e:
        podman.connect(api1.control, api1.id, "nosuch")
    assert e.value.rule == "podman-failed" and "network not found" in str(e.value)
    assert set(links_in(pid)) == {"eth0"}


def test_without_the_database_conmon_and_storage_still_name_the_running_ones(pm):
    """The fallback (a database we cannot read, e.g. SQLite in podman >= 4.8): conmon's -n and
    containers/storage's containers.json, read through conmon's /proc/PID/root."""
    procs = ProcTable()
    web1 = ours(pm)["web1"]
    cpid = web1.details["conmon_pid"]
    inst = podman.Instance(procs, podman.parse_conmon(cpid, procs.argv(cpid)))
    for pid in procs.with_comm("conmon"):
        c = podman.parse_conmon(pid, procs.argv(pid) or [])
        if c is not None and str(pm.base) in " ".join(c.command):
            inst.conmons[c.cid] = c
    found = {o.name: o for o in podman._from_conmons(inst, inst.engine_networks())}
    assert set(found) == {"web1", "api1", "idle1", "host1", "side1"}  # the created one has no conmon
    assert found["host1"].pids == [] and found["host1"].details["network_mode"] == "host"  # from the bundle
    for name in ("web1", "api1", "idle1"):
        o = found[name]
        info = pm.inspect(name)
        assert (o.id, o.image, o.pids) == (info["Id"], info["ImageName"], [info["State"]["Pid"]]), name
        assert o.details["source"] == "conmon"
    assert found["idle1"].state == "paused" and found["web1"].state == "running"  # the freezer's word


def test_scan_is_empty_when_no_conmon_runs(pm, tmp_path):
    """In a PID namespace of its own (its own /proc) no conmon is seen: scan says nothing.

    A process that is called conmon but is not podman's (no exit command) is not taken for one.
    """
    fake = tmp_path / "conmon"
    fake.write_bytes(open("/bin/sleep", "rb").read())
    fake.chmod(0o755)
    code = (
        "import subprocess, sys, json\n"
        "from vnet_tui.owners.base import ProcTable\n"
        "from vnet_tui.owners import podman\n"
        "before = [len(ProcTable().with_comm('conmon')), len(podman.scan(ProcTable()))]\n"
        f"p = subprocess.Popen([{str(fake)!r}, '1000'])\n"
        "import time\n"
        "while 'conmon' not in ProcTable().comms.values(): time.sleep(0.01)\n"
        "after = [len(ProcTable().with_comm('conmon')), len(podman.scan(ProcTable()))]\n"
        "p.kill(); print(json.dumps([before, after]))\n"
    )
    r = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", code],
                       capture_output=True, text=True, timeout=60, cwd=str(Path(__file__).resolve().parents[2]))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [[0, 0], [1, 0]]
    assert len(ours(pm)) == 6  # outside that namespace the same code sees this podman


def test_restart_replaces_the_netns_and_a_raw_veth_is_lost(pm):
    """What "lost when web1 restarts" rests on: podman makes a new netns; a veth podman does not know is gone."""
    before = ours(pm)["web1"]
    pid, cookie = before.pids[0], netns_cookie(before.pids[0])
    subprocess.run(["ip", "-n", pm.ns, "link", "add", "vtraw0", "type", "veth", "peer", "name", "eth9",
                    "netns", str(pid)], check=True)
    assert "eth9" in links_in(pid) and "vtraw0" in links_of_podman(pm)
    pm.podman("restart", "-t", "0", "web1")
    after = ours(pm)["web1"]
    info = pm.inspect("web1")
    assert after.id == before.id and after.state == "running"
    assert after.pids == [info["State"]["Pid"]] and after.pids != [pid]
    assert netns_inode(after.pids[0]) == pm.sandbox_inode("web1")
    assert netns_cookie(after.pids[0]) != cookie  # a new namespace (its inode number may be the old one's)
    assert "eth9" not in links_in(after.pids[0])
    assert set(links_in(after.pids[0])) == {"eth0"}  # podman's own adapter came back
    assert "vtraw0" not in links_of_podman(pm)  # the raw pair died with the old netns
    # the old record's control no longer acts: its conmon is gone
    assert after.control["context_pid"] != before.control["context_pid"]
    with pytest.raises(ChangeFailed) as e:
        podman.connect(before.control, before.id, "pnet2")
    assert e.value.rule == "podman-context"
    assert list(pm.inspect("web1")["NetworkSettings"]["Networks"]) == ["podman"]


def test_frozen_behind_podmans_back_is_paused(pm):
    """runc pauses through the freezer; a container frozen without podman is paused all the same."""
    o = ours(pm)["web1"]
    cgroup = open(f"/proc/{o.pids[0]}/cgroup").read()
    path = next(l.split(":", 2)[2] for l in cgroup.splitlines() if l.split(":")[1] == "freezer")
    state = f"/sys/fs/cgroup/freezer{path}/freezer.state"
    with open(state, "w") as f:
        f.write("FROZEN")
    try:
        assert ours(pm)["web1"].state == "paused"
    finally:
        with open(state, "w") as f:
            f.write("THAWED")
    assert ours(pm)["web1"].state == "running"


def test_inside_podmans_own_namespaces_changes_need_no_nsenter(pm):
    """On a server podman runs where vnet-tui runs: the same control, no namespace to enter."""
    code = (
        "import json\n"
        "from vnet_tui.owners.base import ProcTable\n"
        "from vnet_tui.owners import podman\n"
        "def recs():\n"
        f"    return {{o.name: o for o in podman.scan(ProcTable()) if o.details.get('root') == {str(pm.base / 'root')!r}}}\n"
        "web1 = recs()['web1']\n"
        "prefix = podman._enter(web1.control)\n"
        "podman.connect(web1.control, web1.id, 'pnet2')\n"
        "on = [n['name'] for n in recs()['web1'].details['networks']]\n"
        "podman.disconnect(web1.control, web1.id, 'pnet2')\n"
        "off = [n['name'] for n in recs()['web1'].details['networks']]\n"
        "print(json.dumps([prefix, on, off, sorted(recs())]))\n"
    )
    r = subprocess.run([*pm.enter(), sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       cwd=str(Path(__file__).resolve().parents[2]))
    assert r.returncode == 0, r.stderr
    prefix, on, off, names = json.loads(r.stdout)
    assert prefix == [] and on == ["pnet2", "podman"] and off == ["podman"]
    assert names == ["api1", "host1", "idle1", "note1", "side1", "web1"]
    assert list(pm.inspect("web1")["NetworkSettings"]["Networks"]) == ["podman"]


def test_a_run_killed_outright_is_swept_by_the_next(pm):
    """The fixture's promise: even a run that never tore down leaves nothing once the next run starts."""
    other = runtime.Podman()
    other.start()
    try:
        other.make_image()
        other.run("orphan1")
        ids = runtime._container_ids(other.base)
        assert len(ids) == 1
        assert runtime.instance_processes(other.base, None, None, set())  # conmon and the container
        os.kill(other.holder_pid, 9)  # as if pytest had been killed: nothing of podman's stopped
        other.holder.wait(timeout=10)  # type: ignore[union-attr]
        assert other.base.name in runtime.sweep_stale()  # (with any other dead run's, never a live one's)
        assert runtime.instance_processes(other.base, None, None, set()) == []
        left = [p for p in os.listdir("/proc") if p.isdigit() and any(
            f"libpod-{i}" in (open(f"/proc/{p}/cgroup").read() if os.path.exists(f"/proc/{p}/cgroup") else "")
            for i in ids)]
        assert left == [], [(p, open(f"/proc/{p}/status").read()[:200]) for p in left]
        assert not other.base.exists() and not os.path.exists(f"/run/netns/{other.ns}")
        assert ours(pm)["web1"].state == "running"  # the live run's podman was left alone
    finally:
        problems = other.close()
    assert problems == [], problems


def test_the_bolt_reader_on_podmans_real_database(pm, tmp_path):
    """boltdb.py reads podman's own file (a copy) as podman wrote it, and says so when it cannot."""
    from vnet_tui.owners.boltdb import Bolt, BoltError

    src = pm.base / "root" / "libpod" / "bolt_state.db"
    data = src.read_bytes()
    db = Bolt(data)
    ctrs = db.sub(db.root, b"ctr")
    assert ctrs is not None
    names = {}
    for cid, node in db.buckets(ctrs):
        names[json.loads(db.values(node)[b"config"])["name"]] = cid.decode()
    assert names == {c["Names"][0]: c["Id"] for c in pm.ps()}
    with pytest.raises(BoltError):
        Bolt(data[:2 * db.pagesize]).items(db.root).__next__()  # the tree's pages are not there
    with pytest.raises(BoltError):
        Bolt(b"\0" * len(data))  # no valid meta page
    torn = bytearray(data)
    torn[16:20] = b"\0\0\0\0"  # meta 0 broken: meta 1 still names a whole tree
    assert {k for k, _ in Bolt(bytes(torn)).buckets(Bolt(bytes(torn)).root)} >= {b"ctr", b"all-ctrs"}


def test_many_containers_the_database_tree_has_branch_pages(pm):
    """Enough containers that bbolt splits the ``ctr`` bucket over branch pages: every one is still read."""
    from vnet_tui.owners.boltdb import BRANCH, Bolt

    made = [f"many{i}" for i in range(50)]
    for name in made:
        pm.podman("create", *runtime.ULIMITS, "--cgroup-parent", f"/{pm.cgdir}", "--name", name, runtime.IMAGE, "sleep", "1")
    try:
        db = Bolt.open(str(pm.base / "root" / "libpod" / "bolt_state.db"))
        ctrs = db.sub(db.root, b"ctr")
        assert ctrs is not None
        kinds = []
        page = db._page

        def seen(node):  # type: ignore[no-untyped-def]
            got = page(node)
            kinds.append(got[2])  # the page's flags: branch or leaf
            return got

        db._page = seen  # type: ignore[method-assign]
        assert len(list(db.buckets(ctrs))) == 6 + len(made)
        assert any(k & BRANCH for k in kinds)  # the tree is deeper than one leaf
        ps = {c["Names"][0]: (c["Id"], c["State"], c["Image"]) for c in pm.ps()}
        found = {n: (o.id, o.state, o.image) for n, o in ours(pm).items()}
        assert found == ps and len(found) == 6 + len(made)
    finally:
        pm.podman("rm", "-f", *made)
