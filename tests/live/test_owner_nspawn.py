"""owners/nspawn.py against real systemd-nspawn machines, proven by nspawn's command line and the kernel.

One module-scoped site (tests/runtimes/nspawn.py), netns ``vt-np-<hex>``
with ``br0``; every machine runs ``sleep`` as its PID 1:

* ``alpha``: ``-M alpha --network-veth`` (host end ve-alpha);
* ``beta``: ``-M beta -D …/beta-dir --network-bridge=br0`` (-M wins over the directory);
* ``web3``: no ``-M``, ``-D …/web3 --private-network`` + a veth the site adds;
* ``gamma``: ``-M gamma --settings=trusted`` and ``gamma.nspawn`` next to its
  directory saying ``[Network] VirtualEthernet=yes, Bridge=br0``;
* ``twin`` twice (``-M twin`` on two directories, one ``--network-veth``, one ``--private-network``): with
  ``--register=no`` nothing stops two machines sharing a name.

Also here: both scans (LXC's and nspawn's) are empty when no such
runtime runs, even with decoy processes named like them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.helpers import ip_json
from tests.live.test_owner_lxc import traced_scan, vnet_tui
from tests.runtimes import nspawn as site_mod
from tests.runtimes.nspawn import Machine, NspawnSite
from vnet_tui.owners import nspawn
from vnet_tui.owners.base import ProcTable

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def site():
    why = site_mod.available()
    if why:
        pytest.skip(f"NOT TESTED: systemd-nspawn: {why}")
    s = NspawnSite([
        Machine("alpha", "alpha", "veth"),
        Machine("beta-dir", "beta", "bridge"),
        Machine("web3", None, "private"),
        Machine("twin-a", "twin", "veth"),
        Machine("twin-b", "twin", "private"),
        Machine("gamma", "gamma", "settings", settings="[Network]\nVirtualEthernet=yes\nBridge=br0\n"),
    ])
    try:
        s.up()
    except BaseException as e:  # Ctrl-C during start-up too: nothing may be left
        problems = s.down()
        if not isinstance(e, Exception):
            raise
        raise AssertionError(f"the nspawn site did not come up: {type(e).__name__}: {e} "
                             f"(removed again; left: {problems})") from e
    yield s
    problems = s.down()
    assert not problems, f"nspawn site not removed cleanly: {problems}"


@pytest.fixture(scope="module")
def records(site):
    """The scan's records of this site's machines, by leader pid."""
    leaders = {m.leader for m in site.machines}
    return {r.pids[0]: r for r in nspawn.scan(ProcTable()) if r.pids and r.pids[0] in leaders}


def nspawn_argv(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().rstrip(b"\0").decode().split("\0")


def test_every_machine_found_once(site, records):
    assert len(records) == len(site.machines)


def test_names_are_the_machine_or_directory_names(site, records):
    for m in site.machines:
        rec = records[m.leader]
        argv = nspawn_argv(rec.control["nspawn_pid"])
        assert argv[0] == "systemd-nspawn" and f"{site.root}/{m.tree}" in argv
        if m.name:
            assert argv[argv.index("-M") + 1] == m.name == rec.name
        else:
            assert "-M" not in argv and rec.name == m.tree == "web3"
    assert records[site.machines[1].leader].name == "beta"  # -M beta, directory beta-dir


def test_leaders_are_all_called_sleep(site, records):
    """The collision of issue 9: by comm every machine is 'sleep'; by owner each has its name."""
    comms = {open(f"/proc/{pid}/comm").read().strip() for pid in records}
    assert comms == {"sleep"}
    assert sorted(r.name for r in records.values()) == ["alpha", "beta", "gamma", "twin", "twin", "web3"]


def test_ids_are_unique_even_for_twins(site, records):
    ids = [r.id for r in records.values()]
    assert len(set(ids)) == len(ids)
    for r in records.values():
        assert r.id == (f"twin:{r.pids[0]}" if r.name == "twin" else r.name)
        assert r.runtime == "nspawn" and r.kind == "container" and r.state == "running"
        assert r.control["registered"] is False


def test_leaders_hold_the_guest_end_of_their_veth(site, records):
    """Each leader's network namespace holds the guest end whose peer is the machine's host end."""
    host = {l["ifname"]: l for l in ip_json("link", "show", netns=site.netns)}
    for m in site.machines:
        out = subprocess.run(["nsenter", "-t", str(m.leader), "-n", "ip", "-j", "link", "show", m.guest_if],
                             capture_output=True, text=True, check=True).stdout
        guest = json.loads(out)[0]
        assert guest["link_index"] == host[m.host_if]["ifindex"], m.machine
        assert host[m.host_if]["link_index"] == guest["ifindex"], m.machine
        assert records[m.leader].pids == [m.leader]
    assert host["vb-beta"]["master"] == "br0"


def test_network_flags_in_details(site, records):
    want = {"veth": {"network-veth": True}, "bridge": {"network-bridge": "br0"},
            "private": {"private-network": True}, "settings": {"network-veth": True, "network-bridge": "br0"}}
    for m in site.machines:
        d = records[m.leader].details
        assert d["network"] == want[m.network], m.machine
        assert d["private_network"] is True and d["boot"] is False
        assert d["directory"] == f"{site.root}/{m.tree}"
        assert ("settings" in d) == (m.network == "settings"), m.machine


def test_settings_file_as_nspawn_applied_it(site, records):
    """gamma's network comes from gamma.nspawn (trusted: --settings=trusted); nspawn put vb-gamma on br0."""
    gamma = next(m for m in site.machines if m.machine == "gamma")
    s = records[gamma.leader].details["settings"]
    assert s["file"] == f"{site.root}/gamma.nspawn" and s["trusted"] and s["applied"]
    assert s["network"] == {"network-veth": ["yes"], "network-bridge": ["br0"]}
    host = {l["ifname"]: l for l in ip_json("link", "show", netns=site.netns)}
    assert host["vb-gamma"]["master"] == "br0"


def test_a_scan_opens_no_socket(site):
    out = traced_scan("nspawn", site.root)
    assert out["found"] == len(site.machines), out
    assert out["calls"] == [], out


def test_options_parse_like_nspawn():
    """Bundled and attached short options, --opt=value, and the command's own flags left alone."""
    o = nspawn.parse_options(["-qbnMweb", "--network-bridge", "br9", "--port=80", "-D/srv/x",
                              "/bin/sh", "-M", "not-an-option"])
    assert o["machine"] == ["web"] and o["network-bridge"] == ["br9"] and o["port"] == ["80"]
    assert o["directory"] == ["/srv/x"] and "boot" in o and "network-veth" in o
    o = nspawn.parse_options(["--machine", "m1", "--image=/var/lib/machines/deb.raw", "--", "-M", "x"])
    assert o["machine"] == ["m1"] and o["image"] == ["/var/lib/machines/deb.raw"]


DECOYS = textwrap.dedent(r"""
    import json, os, subprocess, tempfile, time
    d = tempfile.mkdtemp()
    # decoys named like the runtimes (comm comes from the file name), each a shell with a child
    # 'sleep' in the same PID namespace: runtimes' names and command lines, but no container inside
    decoys = (("lxc-start", ["lxc-start", "-c", "sleep 1000; :", "-n", "fake"]),
              ("lxc-start", ["[lxc monitor] /var/lib/lxc fake", "-c", "sleep 1000; :"]),
              ("systemd-nspawn", ["systemd-nspawn", "-c", "sleep 1000; :", "-M", "fake"]),
              ("incusd", ["incusd", "-c", "sleep 1000; :", "forkstart", "fake", "/x", "/y"]))
    procs = []
    for comm, argv in decoys:
        exe = f"{d}/{comm}"
        if not os.path.exists(exe):
            os.symlink("/bin/sh", exe)
        procs.append(subprocess.Popen(argv, executable=exe))
    from vnet_tui.owners import lxc, nspawn
    from vnet_tui.owners.base import ProcTable
    deadline = time.monotonic() + 20
    while True:
        p = ProcTable()
        if sum(1 for c in p.comms.values() if c == "sleep") >= len(decoys) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    print(json.dumps({"lxc": [r.name for r in lxc.scan(p)], "nspawn": [r.name for r in nspawn.scan(p)],
                      "comms": sorted(p.comms.values())}))
    for pr in procs:
        pr.kill()
""")


def test_scans_are_empty_when_no_runtime_runs():
    """In a PID namespace of its own, among decoys named like the runtimes, both scans are empty."""
    r = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", DECOYS],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    comms = out["comms"]
    assert comms.count("lxc-start") == 2 and comms.count("systemd-nspawn") == 1 and comms.count("incusd") == 1
    assert comms.count("sleep") == 4  # every decoy has its child
    assert out["lxc"] == [] and out["nspawn"] == []


def test_show_json_and_targets_tell_the_sleeps_apart(site, records, tmp_path):
    """``show --json`` names machines by nspawn's names, the twins twin#1/twin#2; target 'twin' is refused."""
    r = vnet_tui("show", "--netns", site.netns, "--json", state=str(tmp_path))
    assert r.returncode == 0, r.stderr
    shown = [c for c in json.loads(r.stdout)["containers"] if c.get("runtime") == "nspawn"
             and set(c["netns"]["pids"]) & set(records)]
    assert sorted(c["name"] for c in shown) == ["alpha", "beta", "gamma", "twin", "twin", "web3"]
    assert sorted(c["display"] for c in shown) == ["alpha", "beta", "gamma", "twin#1", "twin#2", "web3"]
    for c in shown:
        rec = next(records[p] for p in c["netns"]["pids"] if p in records)
        assert c["id"] == rec.id and c["state"] == "running"
    r = vnet_tui("adapter", "add", "twin", "--netns", site.netns, "--dry-run", state=str(tmp_path))
    assert r.returncode == 2 and "target-ambiguous" in r.stderr, (r.returncode, r.stderr)
    twin1 = next(c for c in shown if c["display"] == "twin#1")
    r = vnet_tui("adapter", "add", "twin#1", "--netns", site.netns, "--dry-run", "--json",
                 state=str(tmp_path))
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["target"] == "twin#1" and plan["persists"].startswith("no")
    assert any(f"/proc/{twin1['netns']['pids'][0]}/ns/net" in c for c in plan["commands"]), plan["commands"]


FALLBACKS = textwrap.dedent(r"""
    import json, os, subprocess, tempfile, time
    d = tempfile.mkdtemp()
    os.mkdir(f"{d}/web4")
    # 'systemd-nspawn' here is unshare(1): its child is PID 1 of a new PID namespace, like a machine's
    # leader, and its command line has no -M, -D or -i: nspawn would name it after its directory
    os.symlink("/usr/bin/unshare", f"{d}/systemd-nspawn")
    argv = ["systemd-nspawn", "--pid", "--fork", "sleep", "1000"]
    procs = [subprocess.Popen(argv, executable=f"{d}/systemd-nspawn", cwd=f"{d}/web4"),
             subprocess.Popen(argv, executable=f"{d}/systemd-nspawn", cwd="/")]
    from vnet_tui.owners import nspawn
    from vnet_tui.owners.base import ProcTable
    deadline = time.monotonic() + 20
    while True:
        p = ProcTable()
        recs = nspawn.scan(p)
        if len(recs) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    print(json.dumps({"names": sorted(r.name for r in recs), "ids": sorted(r.id for r in recs),
                      "leaders": [p.comm(r.pids[0]) for r in recs]}))
    for pr in procs:
        pr.kill()
""")


def test_names_without_machine_or_directory():
    """No -M/-D/-i: named after nspawn's working directory, else the machine's /etc/hostname."""
    r = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "--net", sys.executable, "-c",
                        FALLBACKS],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    hostname = open("/etc/hostname").read().strip()
    assert out["names"] == sorted(["web4", hostname]) and out["leaders"] == ["sleep", "sleep"]


@pytest.fixture(scope="module")
def two_webs():
    """An LXC container 'web' and an nspawn machine '-M web', both on br0 of one netns."""
    from tests.runtimes import lxc as lxc_site
    why = lxc_site.available() or site_mod.available()
    if why:
        pytest.skip(f"NOT TESTED: LXC + nspawn: {why}")
    lx = lxc_site.LxcSite([lxc_site.LxcContainer("web", "02:00:5e:4c:58:21")])
    np_ = None
    try:
        lx.up()
        np_ = NspawnSite([Machine("web-tree", "web", "bridge")], netns=lx.netns)
        np_.up()
    except BaseException as e:
        problems = (np_.down() if np_ else []) + lx.down()
        if not isinstance(e, Exception):
            raise
        raise AssertionError(f"the LXC+nspawn site did not come up: {type(e).__name__}: {e} "
                             f"(removed again; left: {problems})") from e
    yield lx, np_
    problems = np_.down() + lx.down()
    assert not problems, f"LXC+nspawn site not removed cleanly: {problems}"


def test_same_name_in_two_runtimes(two_webs, tmp_path):
    """LXC's and nspawn's 'web': shown web@lxc and web@nspawn; 'web' is refused, 'web@lxc' reaches LXC's."""
    lx, np_ = two_webs
    r = vnet_tui("show", "--netns", lx.netns, "--json", state=str(tmp_path))
    assert r.returncode == 0, r.stderr
    webs = {c["runtime"]: c for c in json.loads(r.stdout)["containers"] if c["name"] == "web"}
    assert set(webs) == {"lxc", "nspawn"}
    assert webs["lxc"]["display"] == "web@lxc" and webs["nspawn"]["display"] == "web@nspawn"
    assert webs["nspawn"]["netns"]["pids"] == [np_.machines[0].leader]
    assert webs["lxc"]["state"] == "running" and webs["lxc"]["id"] == f"{lx.lxcpath}/web"
    r = vnet_tui("adapter", "add", "web", "--netns", lx.netns, "--dry-run", state=str(tmp_path))
    assert r.returncode == 2 and "target-ambiguous" in r.stderr, (r.returncode, r.stderr)
    assert "web@lxc" in r.stderr and "web@nspawn" in r.stderr
    r = vnet_tui("adapter", "add", "web@lxc", "--netns", lx.netns, "--dry-run", "--json", state=str(tmp_path))
    assert r.returncode == 0, r.stderr
    lxc_init = int(lx.info("web")["PID"])
    assert any(f"/proc/{lxc_init}/ns/net" in c for c in json.loads(r.stdout)["commands"])
