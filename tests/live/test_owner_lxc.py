"""owners/lxc.py against real LXC containers, proven by LXC's own tools (lxc-ls, lxc-info).

One module-scoped site (tests/runtimes/lxc.py): netns ``vt-lx-<hex>``
with ``br0``, a private lxcpath, two busybox containers on br0:
``web`` started with ``lxc-start -d`` and then frozen, and ``101`` (a
Proxmox-style CTID) started in the foreground (``lxc-start -F``) as
Proxmox runs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

from tests.helpers import ip_json
from tests.runtimes import lxc as site_mod
from tests.runtimes.lxc import LxcContainer, LxcSite
from vnet_tui.owners import lxc
from vnet_tui.owners.base import ProcTable

pytestmark = pytest.mark.live

MACS = {"web": "02:00:5e:4c:58:01", "101": "02:00:5e:4c:58:02"}


@pytest.fixture(scope="module")
def site():
    why = site_mod.available()
    if why:
        pytest.skip(f"NOT TESTED: LXC: {why}")
    s = LxcSite([LxcContainer("web", MACS["web"], frozen=True),
                 LxcContainer("101", MACS["101"], foreground=True)])
    try:
        s.up()
    except BaseException as e:  # Ctrl-C during start-up too: nothing may be left
        problems = s.down()
        if not isinstance(e, Exception):
            raise
        raise AssertionError(f"the LXC site did not come up: {type(e).__name__}: {e} "
                             f"(removed again; left: {problems})") from e
    yield s
    problems = s.down()
    assert not problems, f"LXC site not removed cleanly: {problems}"


@pytest.fixture(scope="module")
def records(site):
    return {r.name: r for r in lxc.scan(ProcTable()) if r.control.get("lxcpath") == site.lxcpath}


def test_names_and_states_are_lxc_ls_fancy(site, records):
    fancy = site.fancy()
    assert set(fancy) == {"web", "101"}
    assert set(records) == set(fancy)
    words = {"RUNNING": "running", "FROZEN": "frozen"}
    assert {n: r.state for n, r in records.items()} == {n: words[s] for n, s in fancy.items()}
    assert records["web"].state == "frozen" and records["101"].state == "running"


def test_pids_and_states_are_lxc_info(site, records):
    for name, rec in records.items():
        info = site.info(name)
        assert rec.pids == [int(info["PID"])], name
        assert rec.state == info["State"].lower(), name


def test_ids_control_and_runtime(site, records):
    for name, rec in records.items():
        assert rec.runtime == "lxc" and rec.kind == "container"
        assert rec.id == f"{site.lxcpath}/{name}"
        assert rec.control["lxcpath"] == site.lxcpath and rec.control["name"] == name
        assert rec.image == "busybox"
        # the monitor is the one whose title (or -F command line) names this container
        mon = rec.control["monitor_pid"]
        assert mon in site.monitors() and rec.pids[0] != mon


def test_inits_are_all_called_init(records):
    """By comm both containers are 'init' (issue 9's collision); by owner each has its name."""
    assert {open(f"/proc/{r.pids[0]}/comm").read().strip() for r in records.values()} == {"init"}
    assert len({r.id for r in records.values()}) == 2


def test_numeric_ctid_is_an_ordinary_name(records):
    assert records["101"].name == "101" and records["101"].details["hostname"] == "101"


def test_network_entries_are_the_config(site, records):
    for name, rec in records.items():
        nets = rec.details["networks"]
        assert nets == [{"index": "0", "type": "veth", "link": "br0", "flags": "up", "name": "eth0",
                         "hwaddr": MACS[name]}], name


def test_init_is_in_the_netns_of_its_veth(site, records):
    """The record's pid holds the container's eth0 (the config's MAC), whose peer is on br0 in the netns."""
    bridge_ports = {l["ifindex"]: l for l in ip_json("link", "show", "master", "br0", netns=site.netns)}
    for name, rec in records.items():
        out = subprocess.run(["nsenter", "-t", str(rec.pids[0]), "-n", "ip", "-j", "link", "show", "eth0"],
                             capture_output=True, text=True, check=True).stdout
        eth0 = json.loads(out)[0]
        assert eth0["address"] == MACS[name]
        assert eth0["link_index"] in bridge_ports, name


def test_a_scan_opens_no_socket(site):
    """Scanning reads /proc and files only: LXC's command socket is never asked (traced with strace)."""
    out = traced_scan("lxc", site.lxcpath)
    assert out["found"] == 2, out
    assert out["calls"] == [], out


def traced_scan(module: str, needle: str) -> dict:
    """Run ``module.scan`` under strace: the socket/connect calls it made, the records matching ``needle``."""
    if shutil.which("strace") is None:
        pytest.skip("NOT TESTED: strace is not installed (to prove a scan opens no socket)")
    code = (
        "import os, sys\n"
        f"from vnet_tui.owners import {module} as m\n"
        "from vnet_tui.owners.base import ProcTable\n"
        "p = ProcTable()\n"
        "os.write(2, b'<<scan\\n')\n"
        "recs = m.scan(p)\n"
        "os.write(2, b'scan>>\\n')\n"
        f"print(sum(1 for r in recs if {needle!r} in repr(r)))\n"
    )
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as log:
        r = subprocess.run(["strace", "-f", "-qq", "-o", log.name, "-e", "trace=socket,connect,write",
                            sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        lines = log.read().splitlines()
    start = next(i for i, l in enumerate(lines) if "<<scan" in l)
    end = next(i for i, l in enumerate(lines) if "scan>>" in l)
    calls = [l for l in lines[start:end] if re.search(r"(^|\s)(socket|connect)\(", l)]
    return {"found": int(r.stdout.strip()), "calls": calls}


def vnet_tui(*args: str, state: str) -> subprocess.CompletedProcess[str]:
    """The CLI as an operator runs it, with a private state directory."""
    return subprocess.run([sys.executable, "-m", "vnet_tui", *args], capture_output=True, text=True,
                          timeout=120,
                          env={**os.environ, "VNET_TUI_STATE": state})


def test_show_json_names_lxc_containers_by_their_owner(site, records, tmp_path):
    """``vnet-tui show --netns SITE --json``: runtime, name, id, state from LXC; paired to the netns."""
    r = vnet_tui("show", "--netns", site.netns, "--json", state=str(tmp_path))
    assert r.returncode == 0, r.stderr
    shown = {c["name"]: c for c in json.loads(r.stdout)["containers"] if c.get("runtime") == "lxc"}
    assert set(shown) == {"web", "101"}
    for name, c in shown.items():
        assert c["id"] == records[name].id and c["display"] == name
        assert c["state"] == records[name].state
        assert records[name].pids[0] in c["netns"]["pids"]
    assert shown["web"]["state"] == "frozen"


def test_control_reaches_the_container(site, records):
    """control's lxcpath/name/monitor_pid are enough for LXC's own tools, run in the monitor's netns.

    LXC's command socket is an abstract unix socket, which lives in a network namespace: from the
    root one lxc-info does not see the running container at all.
    """
    for name, rec in records.items():
        c = rec.control
        ns = ["nsenter", "-t", str(c["monitor_pid"]), "-n"]
        info = subprocess.run([*ns, "lxc-info", "-P", c["lxcpath"], "-n", c["name"], "-p", "-s"],
                              capture_output=True, text=True, timeout=30, check=True).stdout
        assert str(rec.pids[0]) in info.split(), info
        assert rec.state.upper() in info
        outside = subprocess.run(["lxc-info", "-P", c["lxcpath"], "-n", c["name"], "-s"],
                                 capture_output=True, text=True, timeout=30).stdout
        assert "STOPPED" in outside
    c = records["101"].control
    out = subprocess.run(["nsenter", "-t", str(c["monitor_pid"]), "-n", "lxc-attach", "-P", c["lxcpath"],
                          "-n", "101", "--", "/bin/ip", "-o", "link", "show", "eth0"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert MACS["101"] in out


PROXMOX_CONFIG = """\
lxc.arch = amd64
lxc.include = /usr/share/lxc/config/debian.common.conf
lxc.apparmor.profile = generated
lxc.uts.name = web-prod
lxc.net.0.type = veth
lxc.net.0.veth.pair = veth101i0
lxc.net.0.hwaddr = BC:24:11:5A:7B:01
lxc.net.0.name = eth0
lxc.net.0.link = fwbr101i0
lxc.net.0.mtu = 1500
lxc.net.1.type = veth
lxc.net.1.veth.pair = veth101i1
lxc.net.1.link = vmbr1
lxc.rootfs.path = /var/lib/lxc/101/rootfs
"""


def test_config_network_entries_of_other_writers():
    """Proxmox's generated config (veth.pair, mtu, two NICs) and LXC 2's lxc.network.N keys."""
    nets = lxc.networks(lxc.parse_config(PROXMOX_CONFIG))
    assert nets == [
        {"index": "0", "type": "veth", "veth.pair": "veth101i0", "hwaddr": "BC:24:11:5A:7B:01",
         "name": "eth0", "link": "fwbr101i0", "mtu": "1500"},
        {"index": "1", "type": "veth", "veth.pair": "veth101i1", "link": "vmbr1"},
    ]
    old = lxc.networks(lxc.parse_config("lxc.network.0.type = veth\nlxc.network.0.link = lxcbr0\n"))
    assert old == [{"index": "0", "type": "veth", "link": "lxcbr0"}]
    assert lxc.template("# Template used to create this container: /usr/share/lxc/templates/lxc-download\n"
                        "# Parameters passed to the template: -d debian -r bookworm -a amd64\n") == \
        "debian bookworm amd64"
