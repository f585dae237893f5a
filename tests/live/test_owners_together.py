"""Issue 9's "done when", end to end: docker, podman, LXC, nspawn and libvirt+QEMU side by side in ONE
network namespace (tests/runtimes/together.py), checked through the CLI against each runtime's own CLI
and ``ip -j``.

Names collide on purpose: ``web`` is a docker, a podman and an LXC container; the two nspawn machines'
PID 1 are both ``sleep``.  A runtime that cannot start here is NOT TESTED: its tests skip with the
reason, a PytestWarning says it, and the session's summary ends with a loud line per runtime.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ip_json
from tests.ipview import check_end
from tests.runtimes import together

pytestmark = [pytest.mark.live, pytest.mark.qemu]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _Loud:
    """Registered as a plugin by the fixture: the summary says which runtimes were not tested."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.lines:
            terminalreporter.section("owners together: NOT TESTED", sep="!", red=True, bold=True)
            for line in self.lines:
                terminalreporter.write_line(line, red=True, bold=True)


@pytest.fixture(scope="module")
def srv(request, tmp_path_factory):
    state = str(tmp_path_factory.mktemp("vt-state"))
    with together.server() as s:
        s.state = state  # type: ignore[attr-defined]
        if s.not_tested:
            loud = _Loud()
            loud.lines = [f"NOT TESTED: {rt}: {why}" for rt, why in s.not_tested.items()]
            request.config.pluginmanager.register(loud, f"vt-owners-together-{s.netns}")
            for line in loud.lines:
                warnings.warn(pytest.PytestWarning(line))
        yield s


def display(srv, rt: str, name: str) -> str:
    """How show names ``rt``'s ``name`` now (web@docker while another web exists, else web)."""
    return by_runtime(show(srv), rt)[name]["display"]


def need(srv, rt: str):
    got = getattr(srv, rt)
    if got is None:
        pytest.skip(f"NOT TESTED: {rt}: {srv.not_tested.get(rt)}")
    return got


def vnet(srv, *args: str, strace: str = "") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, VNET_TUI_STATE=srv.state)
    pre = ["strace", "-f", "-qq", "-e", "trace=connect", "-o", strace] if strace else []
    return subprocess.run([*pre, sys.executable, "-m", "vnet_tui", *args], env=env, capture_output=True,
                          text=True, timeout=180, cwd=ROOT)


def show(srv) -> dict[str, Any]:
    r = vnet(srv, "show", "--netns", srv.netns, "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def shown(srv, tmp_path_factory):
    """One ``show --netns THAT --json`` under strace -f -e trace=connect: (JSON, strace lines)."""
    trace = str(tmp_path_factory.mktemp("strace") / "connect.log")
    r = vnet(srv, "show", "--netns", srv.netns, "--json", strace=trace)
    assert r.returncode == 0, r.stderr[-2000:]
    with open(trace) as f:
        return json.loads(r.stdout), f.read().splitlines()


def by_runtime(show_json: dict[str, Any], rt: str) -> dict[str, dict]:
    things = show_json["vms"] if rt == "libvirt" else show_json["containers"]
    mine = [c for c in things if c.get("runtime") == rt]
    out = {c["name"]: c for c in mine}
    assert len(out) == len(mine), f"two {rt} entries with one name: {[c['name'] for c in mine]}"
    return out


EXPECT = {
    "docker": lambda s: {"web", "db", "pz"},
    "podman": lambda s: {"web", "pidle", "praw"},
    "lxc": lambda s: {"web", "lxfz"},
    "nspawn": lambda s: {"npa", "npb"},
    "libvirt": lambda s: {s.libvirt.domains["pc"], s.libvirt.domains["q35"]},
}


def expected(srv, rt: str) -> dict[str, dict]:
    return together.owners_say(srv, rt)


# ------------------------------------------------------------------ the tests


@pytest.mark.parametrize("rt", together.RUNTIMES)
def test_names_states_ids_equal_the_runtimes_own_cli(srv, shown, rt):
    need(srv, rt)
    want = expected(srv, rt)
    assert set(want) == EXPECT[rt](srv), (rt, sorted(want))  # the fixture made what it says
    got = by_runtime(shown[0], rt)
    assert set(got) == set(want), (rt, sorted(got), sorted(want))
    for name, w in want.items():
        g = got[name]
        assert g["runtime"] == rt
        assert (g.get("state") or "").lower() == w["state"].lower(), (rt, name, g.get("state"), w["state"])
        if "id" in w:
            assert g["id"] == w["id"], (rt, name)
        if "image" in w:
            assert g.get("image") == w["image"], (rt, name)
        if "pid" in w:
            assert g["netns"]["pids"] == [w["pid"]], (rt, name)
    if rt == "nspawn":  # the collision on purpose: every machine's PID 1 is `sleep`
        assert {Path(f"/proc/{w['pid']}/comm").read_text().strip() for w in want.values()} == {"sleep"}
        assert len(want) == 2


def test_states_that_are_not_running(srv, shown):
    """The interesting states, spelled out (each equal to its runtime's CLI in the test above)."""
    states = {(c["runtime"], c["name"]): c.get("state") for c in shown[0]["containers"] + shown[0]["vms"]}
    checked = 0
    if srv.docker:
        assert states[("docker", "pz")] == "paused" and states[("docker", "web")] == "running"
        checked += 1
    if srv.podman:
        assert states[("podman", "pidle")] == "paused"
        checked += 1
    if srv.lxc:
        assert (states[("lxc", "lxfz")] or "").lower() == "frozen" == srv.lxc.fancy()["lxfz"].lower()
        checked += 1
    if srv.libvirt:
        d = srv.libvirt.domains
        assert states[("libvirt", d["pc"])] == "running" == srv.libvirt.virsh("domstate", d["pc"]).stdout.strip()
        assert states[("libvirt", d["q35"])] == "paused" == srv.libvirt.virsh("domstate", d["q35"]).stdout.strip()
        checked += 1
    if not checked:
        pytest.skip("NOT TESTED: none of docker, podman, lxc, libvirt ran")


def test_display_names_are_unique_and_collisions_are_marked(srv, shown):
    every = shown[0]["containers"] + shown[0]["vms"]
    displays = [c["display"] for c in every]
    assert len(displays) == len(set(displays)), sorted(displays)
    webs = {c["runtime"]: c["display"] for c in shown[0]["containers"] if c["name"] == "web"}
    assert set(webs) == {rt for rt in ("docker", "podman", "lxc") if getattr(srv, rt)}
    if len(webs) < 2:
        pytest.skip(f"NOT TESTED: fewer than two runtimes with a 'web' ran ({sorted(webs)})")
    assert webs == {rt: f"web@{rt}" for rt in webs}
    for c in every:  # a name nobody else has is shown as it is
        if [x["name"] for x in every].count(c["name"]) == 1:
            assert c["display"] == c["name"], c


def ip_in(pid: int, what: str = "link") -> list[dict]:
    """``ip -j WHAT show`` inside the network namespace of process ``pid``."""
    out = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-j", what, "show"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out or "[]")


def test_every_end_paired_as_ip_sees_it(srv, shown):
    """Each container's ends and the server's ends equal ``ip -j`` in their namespaces, and every pair
    is the kernel's (the guest end's link_index is the host end, and back)."""
    data = shown[0]
    assert data["host"]["netns"] == srv.netns
    hlinks = {l["ifindex"]: l for l in ip_json("link", "show", netns=srv.netns)}
    haddrs = {a["ifindex"]: {f"{x['local']}/{x['prefixlen']}" for x in a.get("addr_info", [])}
              for a in ip_json("addr", "show", netns=srv.netns)}
    assert {i["ifindex"] for i in data["host"]["interfaces"]} == set(hlinks)
    for end in data["host"]["interfaces"]:
        check_end(end, hlinks, haddrs)
    host_by_index = {i["ifindex"]: i for i in data["host"]["interfaces"]}
    paired_host_ends = set()
    for ct in data["containers"]:
        pid = ct["netns"]["pids"][0]
        assert os.stat(f"/proc/{pid}/ns/net").st_ino == ct["netns"]["inode"], ct["display"]
        clinks = {l["ifindex"]: l for l in ip_in(pid)}
        caddrs = {a["ifindex"]: {f"{x['local']}/{x['prefixlen']}" for x in a.get("addr_info", [])}
                  for a in ip_in(pid, "addr")}
        assert {i["ifindex"] for i in ct["interfaces"]} == set(clinks), ct["display"]
        peers = 0
        for end in ct["interfaces"]:
            l = check_end(end, clinks, caddrs)
            peer = end["peer"]
            if peer is None:
                assert l.get("link_netnsid") is None or l["ifname"] == "lo", (ct["display"], l)
                continue
            assert l.get("link_index") == peer["ifindex"], (ct["display"], end["ifname"])
            h = hlinks[peer["ifindex"]]
            assert h["ifname"] == peer["ifname"] and h.get("link_index") == end["ifindex"]
            assert host_by_index[peer["ifindex"]]["peer"]["owner"] == ct["display"]  # unique: web@docker
            paired_host_ends.add(peer["ifindex"])
            peers += 1
        assert peers >= 1, ct["display"]  # every container here has a veth into the server's namespace
    # every veth of the server whose peer is elsewhere is the host end of one of those pairs
    veths = {i for i, l in hlinks.items() if "link_netnsid" in l and l.get("link_index")}
    assert veths == paired_host_ends


def test_vm_adapters_are_libvirts_taps(srv, shown):
    lab = need(srv, "libvirt")
    vms = by_runtime(shown[0], "libvirt")
    links = {l["ifname"]: l for l in ip_json("link", "show", netns=srv.netns)}
    for role in ("pc", "q35"):
        name = lab.domains[role]
        rows = domiflist(lab, name)
        got = vms[name]["adapters"]
        assert [(a["host_ifname"], a["guest_mac"]) for a in got] == [(r["target"], r["mac"]) for r in rows]
        for a in got:
            assert links[a["host_ifname"]].get("master") == "br0"
            assert re.fullmatch(r"net\d+", a["id"])
        assert vms[name]["qmp"] is None  # libvirt's monitor is not ours


def test_another_libvirtds_vms_are_not_this_servers(srv):
    """A second libvirtd in a netns of its own has taps named vnet0, vnet1 too: its VMs are not the server's,
    and the server's vnet0 stays paired with the server's own VM."""
    lab = need(srv, "libvirt")
    from tests.runtimes.libvirt import libvirt_lab

    try:
        other_cm = libvirt_lab()
        other = other_cm.__enter__()
    except RuntimeError as e:
        pytest.skip(f"NOT TESTED: a second libvirtd: {e}")
    try:
        taps_there = {r["target"] for d in ("pc", "q35") for r in domiflist(other, other.domains[d])}
        taps_here = {l["ifname"] for l in ip_json("link", "show", netns=srv.netns)}
        assert taps_there & taps_here, (taps_there, taps_here)  # the same names: the point of this test
        data = show(srv)
        names = {v["name"] for v in data["vms"]}
        assert not names & set(other.domains.values()), sorted(names)
        own = {a["host_ifname"]: v["name"] for v in data["vms"] for a in v["adapters"]}
        for i in data["host"]["interfaces"]:
            if i["peer"] and i["peer"]["kind"] == "vm":
                assert i["peer"]["owner"] == own[i["ifname"]]
                assert i["peer"]["owner"] in set(lab.domains.values())
    finally:
        other_cm.__exit__(None, None, None)


def test_no_socket_connect_to_a_qemu_monitor(srv, shown):
    lab = need(srv, "libvirt")
    trace = shown[1]
    connects = [l for l in trace if "connect(" in l]
    if srv.docker:  # strace did see show's connects: the one it should make, to dockerd's API
        assert any(l.rstrip().endswith("= 0") and srv.docker.socket in l for l in connects), connects
    bad = [l for l in connects if re.search(r"monitor|qmp|libvirt", l)]
    assert bad == [], bad
    # the monitors exist and could have been connected to
    mons = [m for m in os.listdir(lab.path("/var/lib/libvirt/qemu")) if m.startswith("domain-")]
    assert mons, "no libvirt domain directories: nothing to prove"
    found = subprocess.run(["find", lab.path("/var/lib/libvirt/qemu"), "-name", "monitor.sock"],
                           capture_output=True, text=True).stdout.split()
    assert len(found) >= 2


@pytest.mark.parametrize("target", ["web", "sleep"])
def test_an_ambiguous_target_is_refused_with_its_candidates(srv, shown, target):
    if target == "web":
        rts = [rt for rt in ("docker", "podman", "lxc") if getattr(srv, rt)]
        want = [f"web@{rt}" for rt in rts]
    else:
        rts = ["nspawn"] if srv.nspawn else []
        want = [m.machine for m in srv.nspawn.machines] if srv.nspawn else []
    if len(want) < 2:
        pytest.skip(f"NOT TESTED: {target!r} names fewer than two things here ({rts})")
    if target == "sleep":
        # both machines' PID 1 is `sleep`, but each is known by its machine name: `sleep` names
        # neither (never one of them silently), and each machine name reaches its own machine
        r = vnet(srv, "adapter", "add", "sleep", "--netns", srv.netns, "--dry-run", "--json")
        assert r.returncode == 4, (r.returncode, r.stdout, r.stderr)
        err = json.loads(r.stdout)["error"]
        assert err["rule"] == "target" and all(w in err["message"] for w in want), err
        for m in srv.nspawn.machines:
            r = vnet(srv, "adapter", "add", m.machine, "--netns", srv.netns, "--dry-run", "--json")
            assert r.returncode == 0, (m.machine, r.stdout, r.stderr)
            assert any(f"/proc/{m.leader}/ns/net" in c for c in json.loads(r.stdout)["commands"])
        return
    if len(want) < 2:
        pytest.skip(f"NOT TESTED: {target!r} names fewer than two things here ({rts})")
    r = vnet(srv, "adapter", "add", target, "--netns", srv.netns, "--dry-run", "--json")
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    err = json.loads(r.stdout or r.stderr)["error"]
    assert err["rule"] == "target-ambiguous"
    for w in want:
        assert w in err["message"], (w, err["message"])
    if target == "web":
        webs = {c["runtime"]: c for c in shown[0]["containers"] if c["name"] == "web"}
        for rt in rts:  # each one named as shown, by its id (or a prefix) or pid:N reaches that one alone
            pid = webs[rt]["netns"]["pids"][0]
            oid = webs[rt]["id"]
            for t in (f"web@{rt}", oid, oid[:12] if rt != "lxc" else oid, f"pid:{pid}"):
                r = vnet(srv, "adapter", "add", t, "--netns", srv.netns, "--dry-run", "--json")
                assert r.returncode == 0, (rt, t, r.stdout, r.stderr)
                res = json.loads(r.stdout)
                assert any(f"/proc/{pid}/ns/net" in c for c in res["commands"]), (rt, t, res["commands"])
    else:  # 'sleep' names both machines by their comm; their machine names are unique
        for m in srv.nspawn.machines:
            r = vnet(srv, "adapter", "add", m.machine, "--netns", srv.netns, "--dry-run", "--json")
            assert r.returncode == 0, (m.machine, r.stdout, r.stderr)
            assert any(f"/proc/{m.leader}/ns/net" in c for c in json.loads(r.stdout)["commands"])


def domiflist(lab, dom: str, inactive: bool = False) -> list[dict]:
    rows = []
    for line in lab.virsh("domiflist", dom, *(["--inactive"] if inactive else [])).stdout.splitlines():
        f = line.split()
        if len(f) == 5:
            rows.append(dict(zip(("target", "type", "source", "model", "mac"), f)))
    return rows


def said_pending(res: dict) -> bool:
    """The change's own words: libvirt asked the guest and it has not released the NIC yet."""
    return any(n.startswith("unplug pending") for n in res.get("notes") or [])


def test_libvirt_vm_adapter_added_deleted_and_undone_through_libvirt(srv):
    lab = need(srv, "libvirt")
    dom = lab.domains["pc"]
    before = domiflist(lab, dom)
    r = vnet(srv, "adapter", "add", dom, "--netns", srv.netns, "--bridge", "br0", "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    res = json.loads(r.stdout)
    assert "kept by libvirt live only" in res["persists"], res
    assert [c.split("'")[0] for c in res["commands"]] == [f"virsh attach-device {dom} "], res["commands"]
    after = domiflist(lab, dom)
    assert len(after) == len(before) + 1
    new = next(x for x in after if x not in before)
    assert new["source"] == "br0"
    assert ip_json("link", "show", new["target"], netns=srv.netns)[0]["master"] == "br0"
    nid = next(a["id"] for a in by_runtime(show(srv), "libvirt")[dom]["adapters"] if a["host_ifname"] == new["target"])

    # undo of the add: libvirt detaches it (the guest sits in SeaBIOS: libvirt may say pending)
    r = vnet(srv, "undo", "--netns", srv.netns, "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert any(c.startswith(f"virsh detach-device {dom} ") and new["mac"] in c
               for c in json.loads(r.stdout)["commands"]), r.stdout
    still = new["mac"] in {x["mac"] for x in domiflist(lab, dom)}
    assert still is said_pending(json.loads(r.stdout)), (still, r.stdout)  # as libvirt says, either way
    # adapter del of the add again, on a second NIC: removed, or pending as libvirt says
    r = vnet(srv, "adapter", "add", dom, "--netns", srv.netns, "--bridge", "br0", "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    now = domiflist(lab, dom)
    added = [x for x in now if x["mac"] not in {y["mac"] for y in before + [new]}]
    assert len(added) == 1
    aid = next(a["id"] for a in by_runtime(show(srv), "libvirt")[dom]["adapters"]
               if a["host_ifname"] == added[0]["target"])
    r = vnet(srv, "adapter", "del", dom, aid, "--netns", srv.netns, "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    gone = added[0]["mac"] not in {x["mac"] for x in domiflist(lab, dom)}
    res = json.loads(r.stdout)
    assert gone is not said_pending(res), (gone, r.stdout)
    assert any(c.startswith(f"virsh detach-device {dom} ") for c in res["commands"]), res["commands"]
    assert res["persists"], res
    assert nid  # the first one had a libvirt id (net1…)


def test_libvirt_persistent_add_is_in_the_domain_config_and_undo_takes_it_out(srv):
    lab = need(srv, "libvirt")
    dom = lab.domains["pc"]
    inactive = {x["mac"] for x in domiflist(lab, dom, inactive=True)}
    r = vnet(srv, "adapter", "add", dom, "--netns", srv.netns, "--bridge", "br0", "--persistent", "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    res = json.loads(r.stdout)
    assert res["persists"].startswith("yes: kept by libvirt (live, and in"), res
    added = {x["mac"] for x in domiflist(lab, dom, inactive=True)} - inactive
    assert len(added) == 1
    mac = added.pop()
    assert mac in {x["mac"] for x in domiflist(lab, dom)}  # live too
    r = vnet(srv, "undo", "--netns", srv.netns, "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert mac not in {x["mac"] for x in domiflist(lab, dom, inactive=True)}


def test_docker_container_joins_a_second_network_through_docker_and_undo_leaves_it(srv):
    rt = need(srv, "docker")
    net2 = json.loads(rt.cli("network", "inspect", "net2").stdout)[0]["Id"]
    bridge = f"br-{net2[:12]}"
    assert set(rt.inspect("web")["NetworkSettings"]["Networks"]) == {"bridge"}
    r = vnet(srv, "adapter", "add", display(srv, "docker", "web"), "--netns", srv.netns, "--bridge", bridge, "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    res = json.loads(r.stdout)
    assert "kept by docker" in res["persists"], res
    assert res["commands"] == ["docker network connect net2 web"], res["commands"]
    assert set(rt.inspect("web")["NetworkSettings"]["Networks"]) == {"bridge", "net2"}
    # docker's own record of the second endpoint is a veth pair into the server's namespace, on net2's bridge
    mac = rt.inspect("web")["NetworkSettings"]["Networks"]["net2"]["MacAddress"]
    web = by_runtime(show(srv), "docker")["web"]
    end = next(i for i in web["interfaces"] if i["mac"] == mac)
    assert end["peer"] and ip_json("link", "show", end["peer"]["ifname"], netns=srv.netns)[0]["master"] == bridge
    r = vnet(srv, "undo", "--netns", srv.netns, "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert json.loads(r.stdout)["commands"] == ["docker network disconnect net2 web"], r.stdout
    assert set(rt.inspect("web")["NetworkSettings"]["Networks"]) == {"bridge"}


def test_podman_on_a_foreign_bridge_is_a_raw_veth_lost_on_restart(srv):
    need(srv, "podman")
    web = display(srv, "podman", "web")
    r = vnet(srv, "adapter", "add", web, "--netns", srv.netns, "--bridge", "br0", "--dry-run", "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    res = json.loads(r.stdout)
    assert res["persists"].startswith(f"no: lost when podman container {web} restarts"), res
    assert not any("podman network connect" in c for c in res["commands"]), res["commands"]
    assert any("a plain veth" in n for n in res["notes"]), res["notes"]
    assert any(" type veth peer " in c for c in res["commands"]), res["commands"]
    r = vnet(srv, "adapter", "add", web, "--netns", srv.netns, "--bridge", "br0", "--dry-run")
    assert r.returncode == 0 and "persists: no: lost when" in r.stdout, r.stdout


def test_undo_refuses_after_podman_restart(srv):
    p = need(srv, "podman")
    r = vnet(srv, "adapter", "add", "praw", "--netns", srv.netns, "--bridge", "br0", "--raw", "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    added = json.loads(r.stdout)
    assert "lost when" in added["persists"], added
    praw_before = by_runtime(show(srv), "podman")["praw"]
    extra = [i for i in praw_before["interfaces"] if i["ifname"] not in ("lo", "eth0")]
    assert len(extra) == 1 and extra[0]["peer"], praw_before["interfaces"]  # the raw veth, paired
    host_if = extra[0]["peer"]["ifname"]
    ino_before = p.sandbox_inode("praw")
    p.podman("restart", "-t", "0", "praw")
    assert p.sandbox_inode("praw") != ino_before  # a new network namespace
    r = vnet(srv, "undo", "--netns", srv.netns, "--json")
    assert r.returncode == 4, (r.returncode, r.stdout, r.stderr)
    err = json.loads(r.stdout or r.stderr)["error"]
    assert err["rule"] == "undo-target-replaced", err
    # nothing was done to the new praw: it has only podman's own eth0 (and lo)
    praw = by_runtime(show(srv), "podman")["praw"]
    assert sorted(i["ifname"] for i in praw["interfaces"] if i["ifname"] != "lo") == ["eth0"], praw["interfaces"]
    assert host_if not in {l["ifname"] for l in ip_json("link", "show", netns=srv.netns)}

