"""owners/libvirt against a real libvirtd and real QEMU (tests/runtimes/libvirt.py), checked with virsh.

Each claim of ``scan`` is compared with what libvirt's own client says (``virsh list --all``,
``domuuid``, ``domstate``, ``domiflist``, ``dumpxml --xpath``) and with the kernel (``ip``);
the change path is driven through our functions and checked with virsh and ``ip`` again.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.helpers import ip_json
from tests.runtimes.libvirt import libvirt_lab
from vnet_tui.core.errors import ChangeFailed
from vnet_tui.owners import libvirt
from vnet_tui.owners.base import ProcTable

pytestmark = [pytest.mark.live, pytest.mark.qemu]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def root_ns_firewall_and_links() -> dict:
    """The root namespace's firewall rules (iptables/ip6tables, no timestamps) and link names."""
    out = {}
    for tool in ("iptables-save", "ip6tables-save"):
        r = subprocess.run([tool], capture_output=True, text=True)
        out[tool] = [l for l in r.stdout.splitlines() if not l.startswith("#")]
    out["links"] = sorted(l["ifname"] for l in ip_json("link", "show"))
    return out


@pytest.fixture(scope="module")
def lab():
    before = root_ns_firewall_and_links()
    try:
        with libvirt_lab() as lv:
            yield lv
    except RuntimeError as e:
        pytest.skip(f"NOT TESTED: libvirt cannot run here: {e}")
    # nothing of this lab is left: daemon, QEMU, namespace, mounts (they die with the processes)
    assert not os.path.exists(f"/proc/{lv.pid}"), "libvirtd still running"
    assert lv.netns not in [n["name"] for n in ip_json("netns", "list")]
    left = subprocess.run(["pgrep", "-f", f"guest={lv.netns}-"], capture_output=True, text=True).stdout
    assert not left.strip(), f"QEMU left: {left}"
    assert not os.path.exists(lv.stage)
    after = root_ns_firewall_and_links()
    assert after["iptables-save"] == before["iptables-save"] and after["ip6tables-save"] == before["ip6tables-save"]
    assert not [l for l in after["links"] if l.startswith(("virbr", "vnet"))]


def ours(lab) -> dict:
    """scan's records from this lab's libvirtd, by domain name."""
    recs = [r for r in libvirt.scan(ProcTable()) if r.details.get("daemon_pid") == lab.pid]
    return {r.name: r for r in recs}


def domiflist(lab, dom: str, inactive: bool = False) -> list[dict]:
    out = lab.virsh("domiflist", dom, *(["--inactive"] if inactive else [])).stdout
    rows = []
    for line in out.splitlines():
        f = line.split()
        if len(f) == 5:
            rows.append(dict(zip(("target", "type", "source", "model", "mac"), f)))
    return rows


def xpath(lab, dom: str, expr: str) -> list[str]:
    out = lab.virsh("dumpxml", dom, "--xpath", expr).stdout
    return [l.strip().split("=", 1)[-1].strip('"') for l in out.splitlines() if l.strip()]


def test_scan_is_empty_where_no_libvirtd_runs():
    """In a PID namespace of its own (a /proc with no daemon in it), scan finds nothing and loads nothing more."""
    code = ("import json,sys; from vnet_tui.owners import libvirt; from vnet_tui.owners.base import ProcTable; "
            "p=ProcTable(); print(json.dumps([p.with_comm('libvirtd','virtqemud'), "
            "[r.name for r in libvirt.scan(p)], len(p.comms), "
            "[m for m in ('xml.etree.ElementTree', 'vnet_tui.owners.libvirt_change', 'tempfile') "
            "if m in sys.modules]]))")
    r = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", code],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    daemons, names, nprocs, loaded = json.loads(r.stdout)
    assert nprocs >= 1  # it did read a /proc: its own
    assert daemons == [] and names == []
    assert loaded == []  # no XML parser, no change path loaded where libvirt is absent


def test_names_uuids_states_equal_virsh(lab):
    recs = ours(lab)
    listed = {}
    for line in lab.virsh("list", "--all").stdout.splitlines():
        m = re.match(r"\s*(\S+)\s+(\S+)\s+(.+?)\s*$", line)
        if m:
            listed[m.group(2)] = m.group(3)
    assert set(recs) == set(listed) == set(lab.domains.values())
    for name, rec in recs.items():
        assert rec.runtime == "libvirt" and rec.kind == "vm"
        assert rec.id == lab.virsh("domuuid", name).stdout.strip()
        assert rec.state == lab.virsh("domstate", name).stdout.strip() == listed[name]
        assert rec.control["uri"] == lab.uri
    assert recs[lab.domains["pc"]].state == "running"
    assert recs[lab.domains["q35"]].state == "paused"
    assert recs[lab.domains["off"]].state == "shut off"
    assert recs[lab.domains["off"]].pids == []


def test_pid_is_libvirts_qemu(lab):
    recs = ours(lab)
    for role in ("pc", "q35"):
        name = lab.domains[role]
        with open(lab.path(f"/run/libvirt/qemu/{name}.pid")) as f:
            pid = int(f.read().strip())
        assert recs[name].pids == [pid]
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        assert f"guest={name}".encode() in b" ".join(argv)


def test_nics_as_libvirt_names_them(lab):
    recs = ours(lab)
    for role in ("pc", "q35", "off"):
        name = lab.domains[role]
        nics = recs[name].details["nics"]
        rows = domiflist(lab, name, inactive=(role == "off"))
        assert [(n["mac"], n["model"], n["bridge"]) for n in nics] == \
            [(r["mac"], r["model"], r["source"]) for r in rows]
        if role == "off":
            continue
        assert [n["target"] for n in nics] == [r["target"] for r in rows]
        assert [(a.id, a.host_ifname, a.guest_mac, a.netdev) for a in libvirt.adapters(recs[name])] == \
            [("net0", r["target"], r["mac"], "hostnet0") for r in rows]
        assert [n["alias"] for n in nics] == xpath(lab, name, "//devices/interface/alias/@name") == ["net0"]
        # QEMU's netdev id, as libvirt put it on QEMU's command line
        argv = open(f"/proc/{recs[name].pids[0]}/cmdline", "rb").read().decode()
        for n in nics:
            assert n["netdev"] == "hostnet0"
            assert f'"id":"{n["netdev"]}"' in argv and f'"netdev":"{n["netdev"]}"' in argv
            assert f'"id":"{n["alias"]}"' in argv
            # the host tap is in libvirtd's netns, on br0
            link = ip_json("link", "show", n["target"], netns=lab.netns)[0]
            assert link["master"] == "br0"


def test_machine_type_and_hotplug_room(lab):
    recs = ours(lab)
    pc, q35, off = (recs[lab.domains[r]].details for r in ("pc", "q35", "off"))
    assert pc["machine_family"] == "pc" and pc["machine"] == xpath(lab, lab.domains["pc"], "//os/type/@machine")[0]
    assert q35["machine_family"] == "q35"
    assert libvirt.can_hotplug(pc)[0] is True
    ok, why = libvirt.can_hotplug(q35)
    assert ok is True and why.startswith("1 free pcie-root-port")
    ok, why = libvirt.can_hotplug(off)
    assert ok is False and "shut off" in why
    ok, why = libvirt.can_hotplug(dict(off, state="running"))  # the same VM started: no ACPI
    assert ok is False and "ACPI" in why


def _monitor_clients(lab) -> int:
    """Connected unix-socket peers of QEMU's monitor sockets, seen from the netns (ss -xp)."""
    out = subprocess.run(["ip", "netns", "exec", lab.netns, "ss", "-xpn"], capture_output=True,
                         text=True, check=True).stdout
    return sum(1 for l in out.splitlines() if "monitor.sock" in l)


def test_scan_opens_no_socket(lab):
    """strace of a whole scan: no socket(), no connect(); libvirt's monitor keeps its one client."""
    recs = ours(lab)
    mon = recs[lab.domains["pc"]].details["monitor"]
    assert mon and os.path.exists(lab.path(mon))  # there is a monitor that could have been opened
    before = _monitor_clients(lab)
    code = ("from vnet_tui.owners import libvirt; from vnet_tui.owners.base import ProcTable; "
            "print(sorted(r.name for r in libvirt.scan(ProcTable())))")
    r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=socket,connect", "-o", "/dev/stderr",
                        sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    for name in lab.domains.values():
        assert name in r.stdout  # it did scan this lab
    calls = [l for l in r.stderr.splitlines() if re.search(r"\b(socket|connect)\(", l)]
    assert calls == []
    assert _monitor_clients(lab) == before


def test_attach_and_detach_live_on_pc(lab):
    dom = lab.domains["pc"]
    mac = "52:54:00:5e:00:11"
    rec = ours(lab)[dom]
    got = libvirt.attach_interface(rec.control, dom, bridge="br0", mac=mac)
    rows = {r["mac"]: r for r in domiflist(lab, dom)}
    assert mac in rows
    assert got["target"] == rows[mac]["target"] and got["alias"] == "net1" and got["netdev"] == "hostnet1"
    assert ip_json("link", "show", got["target"], netns=lab.netns)[0]["master"] == "br0"
    nics = {n["mac"]: n for n in ours(lab)[dom].details["nics"]}
    assert nics[mac]["alias"] == "net1" and nics[mac]["target"] == got["target"]
    assert domiflist(lab, dom, inactive=True) and mac not in {r["mac"] for r in domiflist(lab, dom, inactive=True)}

    res = libvirt.detach_interface(rec.control, dom, mac=mac)
    still = mac in {r["mac"] for r in domiflist(lab, dom)}
    assert res["removed"] is (not still) and res["pending"] is still
    # the guest has no OS (SeaBIOS): nobody acknowledges the ACPI unplug, so libvirt keeps the NIC
    assert res["pending"] is True and "not acknowledged" in res["message"]


def test_q35_paused_takes_one_nic_in_its_free_root_port_then_refuses(lab):
    dom = lab.domains["q35"]
    rec = ours(lab)[dom]
    mac = "52:54:00:5e:00:21"
    got = libvirt.attach_interface(rec.control, dom, bridge="br0", mac=mac)
    assert mac in {r["mac"] for r in domiflist(lab, dom)}
    assert ip_json("link", "show", got["target"], netns=lab.netns)[0]["master"] == "br0"
    after = ours(lab)[dom]
    assert after.state == "paused"
    ok, why = libvirt.can_hotplug(after.details)
    assert ok is False and "no free pcie-root-port" in why
    with pytest.raises(ChangeFailed) as e:
        libvirt.attach_interface(rec.control, dom, bridge="br0", mac="52:54:00:5e:00:22")
    assert e.value.rule == "libvirt" and "No more available PCI slots" in str(e.value)
    assert "52:54:00:5e:00:22" not in {r["mac"] for r in domiflist(lab, dom)}


def test_set_link(lab):
    dom = lab.domains["pc"]
    rec = ours(lab)[dom]
    tap = rec.details["nics"][0]["target"]
    assert libvirt.set_link(rec.control, dom, target_or_mac=tap, up=False) == "down"
    assert lab.virsh("domif-getlink", dom, tap).stdout.split()[-1] == "down"
    assert ours(lab)[dom].details["nics"][0]["link"] == "down"
    assert libvirt.set_link(rec.control, dom, target_or_mac=rec.details["nics"][0]["mac"], up=True) == "up"
    assert lab.virsh("domif-getlink", dom, tap).stdout.split()[-1] == "up"
    with pytest.raises(ChangeFailed) as e:
        libvirt.set_link(rec.control, dom, target_or_mac="vnet999", up=True)
    assert "vnet999" in str(e.value)


def test_persistent_only_change_on_a_shut_off_vm(lab):
    dom = lab.domains["off"]
    rec = ours(lab)[dom]
    mac = "52:54:00:5e:00:31"
    with pytest.raises(ChangeFailed) as e:  # live: libvirt says the domain is not running
        libvirt.attach_interface(rec.control, dom, bridge="br0", mac=mac)
    assert "not running" in str(e.value)
    got = libvirt.attach_interface(rec.control, dom, bridge="br0", mac=mac, live=False, persistent=True)
    assert got["persistent"] is True and got["target"] is None
    assert mac in {r["mac"] for r in domiflist(lab, dom, inactive=True)}
    assert mac in {n["mac"] for n in ours(lab)[dom].details["nics"]}
    res = libvirt.detach_interface(rec.control, dom, mac=mac, live=False, persistent=True)
    assert res["removed"] is True
    assert mac not in {r["mac"] for r in domiflist(lab, dom, inactive=True)}


def test_show_json_names_libvirt_vms_and_never_opens_their_monitor(lab):
    """End to end: `vnet-tui show --netns NS --json` under strace — libvirt's names, states and NIC ids,
    and not one connect() to a QEMU monitor or any other unix socket of libvirt's."""
    before = _monitor_clients(lab)
    r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=connect", "-o", "/dev/stderr",
                        sys.executable, "-m", "vnet_tui", "show", "--netns", lab.netns, "--json"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    unix = [l for l in r.stderr.splitlines() if "connect(" in l and "AF_UNIX" in l]
    assert not [l for l in unix if "libvirt" in l or "monitor" in l], unix
    assert _monitor_clients(lab) == before
    vms = {v["name"]: v for v in json.loads(r.stdout)["vms"]}
    for role in ("pc", "q35"):
        name = lab.domains[role]
        v = vms[name]
        assert v["runtime"] == "libvirt" and v["qmp"] is None
        assert v["id"] == lab.virsh("domuuid", name).stdout.strip()
        assert v["state"] == lab.virsh("domstate", name).stdout.strip()
        rows = {row["target"]: row for row in domiflist(lab, name)}
        for a in v["adapters"]:
            assert a["host_ifname"] in rows and a["guest_mac"] == rows[a["host_ifname"]]["mac"]
            assert re.fullmatch(r"net\d+", a["id"]) and a["netdev"] == "host" + a["id"]
    assert vms[lab.domains["q35"]]["state"] == "paused" and vms[lab.domains["pc"]]["state"] == "running"


def test_detach_completes_when_a_guest_acknowledges(lab):
    """With a Linux guest (its kernel handles ACPI hot-unplug), detach is complete: the NIC and its tap go."""
    try:
        dom = lab.boot_guest("guest", machine="pc")
    except RuntimeError as e:
        pytest.skip(f"NOT TESTED: a booted guest under libvirt: {e}")
    rec = ours(lab)[dom]
    assert rec.state == "running" and libvirt.can_hotplug(rec.details)[0] is True
    mac = "52:54:00:5e:00:61"
    got = libvirt.attach_interface(rec.control, dom, bridge="br0", mac=mac)
    assert ip_json("link", "show", got["target"], netns=lab.netns)[0]["master"] == "br0"
    res = libvirt.detach_interface(rec.control, dom, mac=mac)
    assert res["removed"] is True and res["pending"] is False, res
    assert mac not in {r["mac"] for r in domiflist(lab, dom)}
    assert got["target"] not in [l["ifname"] for l in ip_json("link", "show", netns=lab.netns)]
    assert mac not in {n["mac"] for n in ours(lab)[dom].details["nics"]}
