"""A lab VM guest's addresses, changed through its QEMU guest agent from the CLI.

`adapter set vm201 net0 --add-ip/--del-ip` on a booted lab (one container,
one VM running the lab guest with its agent): the agent reads the new
address back, a container on the lab's bridge reaches it (busybox ping);
deleting removes it and the container no longer gets an answer; undo puts
each back; a failing step rolls back the steps done; bad input and a VM
without an agent (a lab built with --no-boot) are refused before any
change, with their rule.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from typing import Any, Callable, Iterator

import pytest

from tests.helpers import unique
from tests.runtimes.rootfs import busybox
from vnet_tui.core.errors import ChangeFailed, NotPermitted
from vnet_tui.core.model import VM, Adapter, VMNic
from vnet_tui.guest.qga import QGA
from vnet_tui.lab import LabInfo

pytestmark = [pytest.mark.live, pytest.mark.qemu, pytest.mark.timeout(300)]

NEW4 = "198.18.200.9/16"
NEW6 = "fd00:5654::200:9/64"

Cli = Callable[..., subprocess.CompletedProcess]


def _lab(tmp_path_factory: Any, prefix: str, boot: bool, vms: int = 1) -> Iterator[tuple[LabInfo, Cli, str]]:
    state = str(tmp_path_factory.mktemp("state"))
    name = unique(prefix)
    env = {**os.environ, "VNET_TUI_STATE": state}

    def cli(*args: str, check: int | None = 0) -> subprocess.CompletedProcess:
        r = subprocess.run([sys.executable, "-m", "vnet_tui", *args, "--lab", name], capture_output=True,
                           text=True, env=env, timeout=120)
        if check is not None:
            assert r.returncode == check, r.stdout + r.stderr
        return r

    try:
        up = subprocess.run([sys.executable, "-m", "vnet_tui", "lab", "up", name, "--containers", "1", "--vms", str(vms),
                             "--json", *([] if boot else ["--no-boot"])], capture_output=True, text=True, env=env,
                            timeout=240)
        assert up.returncode == 0, up.stdout + up.stderr
        yield LabInfo.from_json(json.loads(up.stdout)), cli, state
    finally:
        subprocess.run([sys.executable, "-m", "vnet_tui", "lab", "down", name], capture_output=True, env=env,
                       timeout=120)


@pytest.fixture(scope="module")
def booted(tmp_path_factory: Any) -> Iterator[tuple[LabInfo, Cli, str]]:
    yield from _lab(tmp_path_factory, "ga", boot=True, vms=2)  # vm202: another guest's addresses


@pytest.fixture(scope="module")
def paused(tmp_path_factory: Any) -> Iterator[tuple[LabInfo, Cli, str]]:
    yield from _lab(tmp_path_factory, "gn", boot=False)


def agent_addrs(info: LabInfo, name: str = "vm201") -> list[str]:
    """The guest NIC's addresses (not link-local) as its agent reports them."""
    vm = info.vm(name)
    with QGA(vm.qga, timeout=5.0) as q:
        nic = next(i for i in q.interfaces() if (i["hardware-address"] or "").lower() == vm.guest_mac.lower())
    return sorted(f"{a['ip-address']}/{a['prefix']}" for a in nic["ip-addresses"]
                  if not a["ip-address"].lower().startswith("fe80:"))


def ping_from_container(info: LabInfo, addr: str, count: int = 3) -> bool:
    """Whether ct101 gets an echo reply from ``addr`` (busybox ping in its namespace)."""
    ct = info.container("ct101")
    r = subprocess.run(["ip", "netns", "exec", ct.netns, str(busybox()), "ping", "-c", str(count), "-W", "5",
                        addr.partition("/")[0]], capture_output=True, text=True, timeout=60)
    return r.returncode == 0


def rule_of(r: subprocess.CompletedProcess) -> str:
    return json.loads(r.stdout)["error"]["rule"]


def test_added_addresses_are_read_back_and_reached_from_a_container_and_undo_removes_them(booted):
    info, cli, _ = booted
    start = agent_addrs(info)
    assert NEW4 not in start and not ping_from_container(info, NEW4, count=1)

    dry = json.loads(cli("adapter", "set", "vm201", "net0", "--add-ip", NEW4, "--dry-run", "--json").stdout)
    assert dry["commands"] == [f"qga vm201 guest-exec ip addr add {NEW4} dev eth0"]
    assert agent_addrs(info) == start  # a dry run changes nothing

    out = json.loads(cli("adapter", "set", "vm201", info.vm("vm201").tap, "--add-ip", NEW4, "--add-ip", NEW6,
                         "--json").stdout)
    assert out["ok"] and out["before"]["addresses"] == start
    assert out["after"]["addresses"] == sorted(start + [NEW4, NEW6])
    assert agent_addrs(info) == sorted(start + [NEW4, NEW6])
    assert ping_from_container(info, NEW4) and ping_from_container(info, NEW6)

    cli("undo")
    assert agent_addrs(info) == start
    assert not ping_from_container(info, NEW4, count=1)


def test_a_deleted_address_is_gone_and_undo_puts_it_back(booted):
    info, cli, _ = booted
    start = agent_addrs(info)
    cli("adapter", "set", "vm201", "net0", "--add-ip", NEW4)
    assert ping_from_container(info, NEW4)

    out = json.loads(cli("adapter", "set", "vm201", "net0", "--del-ip", NEW4.partition("/")[0], "--json").stdout)
    assert out["commands"] == [f"qga vm201 guest-exec ip addr del {NEW4} dev eth0"]
    assert agent_addrs(info) == start
    assert not ping_from_container(info, NEW4, count=1)

    ct = info.container("ct101")  # meanwhile a container took the address: giving it back is refused
    subprocess.run(["ip", "-n", ct.netns, "addr", "add", NEW4, "dev", ct.ifname], check=True)
    try:
        r = cli("undo", "--json", check=2)
        assert rule_of(r) == "ip-duplicate", r.stdout
    finally:
        subprocess.run(["ip", "-n", ct.netns, "addr", "del", NEW4, "dev", ct.ifname], check=True)
    assert agent_addrs(info) == start

    cli("undo")  # the delete: the address is back
    assert agent_addrs(info) == sorted(start + [NEW4])
    assert ping_from_container(info, NEW4)
    cli("adapter", "set", "vm201", "net0", "--del-ip", NEW4)
    assert agent_addrs(info) == start


def test_bad_input_is_refused_with_its_rule_and_nothing_changes(booted):
    info, cli, _ = booted
    start = agent_addrs(info)
    assert info.vm("vm202").ipv4 in agent_addrs(info, "vm202")
    ct_ip = info.container("ct101").ipv4
    own = next(a for a in start if ":" not in a)
    for args, rule in [
        (["--add-ip", ct_ip], "ip-duplicate"),  # a container on this server has it
        (["--add-ip", own], "ip-exists"),
        (["--add-ip", info.vm("vm202").ipv4], "ip-duplicate"),  # another lab VM's guest has it (its agent says)
        (["--del-ip", "198.18.77.7/16"], "ip-absent"),
        (["--add-ip", "198.18.77.7"], "ip-syntax"),
        (["--add-ip", NEW4, "--mtu", "1400"], "guest-ip-with-edit"),
    ]:
        r = cli("adapter", "set", "vm201", "net0", *args, "--json", check=2)
        assert rule_of(r) == rule, (args, r.stdout)
    assert agent_addrs(info) == start


def test_a_failed_step_rolls_back_the_steps_done(booted, monkeypatch):
    info, _, state = booted
    monkeypatch.setenv("VNET_TUI_STATE", state)
    from vnet_tui.core.server import Server
    from vnet_tui.txn import api
    from vnet_tui.ops.requests import SetRequest

    start = agent_addrs(info)
    server = Server(lab=info.name)
    topo = api.topology_of(server)
    plan = api.plan_edit(server, topo, SetRequest("vm201", "net0", add_ips=[NEW4, NEW6], del_ips=[start[0]]))
    assert len(plan.steps) == 3
    for n in range(len(plan.steps)):  # a fault at each step: what was done before it is undone in the guest
        for after_it in (False, True):  # the step failed / the step did its change, then failed (a lost answer)
            plan = api.plan_edit(server, api.topology_of(server),
                                 SetRequest("vm201", "net0", add_ips=[NEW4, NEW6], del_ips=[start[0]]))
            real = plan.steps[n].action

            def broken(live: Any, real: Any = real, after_it: bool = after_it) -> None:
                if after_it:
                    real(live)
                raise RuntimeError("injected fault")

            plan.steps[n].action = broken
            with pytest.raises(ChangeFailed) as e:
                api.apply(server, api.topology_of(server), plan)
            assert "injected fault" in str(e.value) and e.value.rule == "rolled-back", str(e.value)
            assert agent_addrs(info) == start, f"fault at step {n + 1} ({'after' if after_it else 'before'} it ran)"

    # the steps all ran but the read-back disagrees: every step is undone in the guest
    plan = api.plan_edit(server, api.topology_of(server), SetRequest("vm201", "net0", add_ips=[NEW4, NEW6]))
    plan.verify = lambda live: ["injected: the agent shows something else"]
    with pytest.raises(ChangeFailed) as e:
        api.apply(server, api.topology_of(server), plan)
    assert "verification" in str(e.value) and e.value.rule == "rolled-back", str(e.value)
    assert agent_addrs(info) == start


def test_a_guest_changed_between_plan_and_change_is_refused_unchanged(booted, monkeypatch):
    info, _, state = booted
    monkeypatch.setenv("VNET_TUI_STATE", state)
    from vnet_tui.core.errors import InvalidInput
    from vnet_tui.core.server import Server
    from vnet_tui.ops import guestaddr
    from vnet_tui.txn import api
    from vnet_tui.ops.requests import SetRequest

    server = Server(lab=info.name)
    plan = api.plan_edit(server, api.topology_of(server), SetRequest("vm201", "net0", add_ips=[NEW4]))
    vm = info.vm("vm201")
    with QGA(vm.qga, timeout=5.0) as q:  # someone changes the guest by hand meanwhile
        assert guestaddr.guest_exec(q, ["ip", "addr", "add", NEW6, "dev", "eth0"])[0] == 0
    try:
        changed = agent_addrs(info)
        with pytest.raises(InvalidInput) as e:
            api.apply(server, api.topology_of(server), plan)
        assert e.value.rule == "stale-view"
        assert agent_addrs(info) == changed
    finally:
        with QGA(vm.qga, timeout=5.0) as q:
            guestaddr.guest_exec(q, ["ip", "addr", "del", NEW6, "dev", "eth0"])
    assert NEW6 not in agent_addrs(info)


def test_possible_for_a_booted_lab_vm(booted, monkeypatch):
    info, _, state = booted
    monkeypatch.setenv("VNET_TUI_STATE", state)
    from vnet_tui.core.server import Server
    from vnet_tui.txn import api
    from vnet_tui.ops.guestaddr import guest_addresses_possible

    topo = api.topology_of(Server(lab=info.name))
    vm = next(v for v in topo.vms if v.name == "vm201")
    assert vm.runtime == "lab" and vm.qga
    assert guest_addresses_possible(vm, timeout=5.0) == (True, "")


def test_a_vm_without_an_agent_is_refused_before_any_change(paused, monkeypatch):
    info, cli, state = paused
    r = cli("adapter", "set", "vm201", "net0", "--add-ip", NEW4, "--json", check=2)
    assert rule_of(r) == "guest-agent-unavailable"
    r = cli("adapter", "set", "vm201", "net0", "--add-ip", NEW4, "--dry-run", "--json", check=2)
    assert rule_of(r) == "guest-agent-unavailable"
    r = cli("undo", "--json", check=None)
    assert r.returncode != 0 and rule_of(r) == "undo-empty"  # nothing was journaled

    monkeypatch.setenv("VNET_TUI_STATE", state)
    from vnet_tui.core.server import Server
    from vnet_tui.txn import api
    from vnet_tui.ops.guestaddr import guest_addresses_possible

    vm = next(v for v in api.topology_of(Server(lab=info.name)).vms if v.name == "vm201")
    ok, why = guest_addresses_possible(vm)
    assert not ok and why.endswith("[guest-agent-unavailable]"), why


def _fake_agent(path: str, enabled: dict[str, bool]) -> threading.Thread:
    """A unix socket answering like qemu-ga: sync, and guest-info with ``enabled`` commands."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)

    def serve() -> None:
        conn, _ = srv.accept()
        buf = b""
        with conn, srv:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                buf += data.replace(b"\xff", b"")
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    msg = json.loads(line)
                    if msg["execute"] == "guest-sync-delimited":
                        conn.sendall(b"\xff" + json.dumps({"return": msg["arguments"]["id"]}).encode() + b"\n")
                    elif msg["execute"] == "guest-info":
                        cmds = [{"name": n, "enabled": e} for n, e in enabled.items()]
                        conn.sendall(json.dumps({"return": {"version": "7.2", "supported_commands": cmds}}).encode()
                                     + b"\n")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


def test_an_agent_with_guest_exec_disabled_and_a_vm_not_ours_are_refused(tmp_path):
    from vnet_tui.ops.guestaddr import guest_addresses_possible, plan_set
    from vnet_tui.ops.requests import SetRequest

    sock = str(tmp_path / "qga.sock")
    t = _fake_agent(sock, {"guest-exec": False, "guest-exec-status": True, "guest-network-get-interfaces": True})
    vm = VM("vm9", os.getpid(), True, None, [VMNic("net0", "c4:37:72:00:00:09", "vme00000000.0")], qga=sock,
            runtime="lab")
    ok, why = guest_addresses_possible(vm, timeout=5.0)
    t.join(10)
    assert not ok and why.endswith("[guest-exec-disabled]"), why

    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # a hung guest: QEMU holds the socket, no answer
    with silent:
        silent.bind(str(tmp_path / "silent.sock"))
        silent.listen(1)
        hung = VM("vm7", os.getpid(), True, None, [], qga=str(tmp_path / "silent.sock"), runtime="lab")
        ok, why = guest_addresses_possible(hung, timeout=0.5)
    assert not ok and why.endswith("[guest-agent-unavailable]"), why

    other = VM("vm8", os.getpid(), True, None, [], qga=sock, runtime="libvirt")
    adapter = Adapter("vme", "vm8", None, None, VMNic("net0", "c4:37:72:00:00:08", "vnet0"))
    from vnet_tui.core.model import Topology

    with pytest.raises(NotPermitted) as e:
        plan_set(None, Topology.from_json({"host": {"interfaces": []}, "containers": [], "vms": []}),  # type: ignore[arg-type]
                 other, adapter, SetRequest("vm8", "net0", add_ips=[NEW4]))
    assert e.value.rule == "guest-agent-not-ours"


async def test_the_vms_pane_shows_and_filters_what_each_guest_agent_reports(booted):
    """The VMs pane's guest IPs come from each lab VM's agent (asked in a worker): shown, in the detail,
    and found by the filter; an address added through the agent appears without a restart."""
    from tests.ui.pilot import SIZE, loaded, pane_column, screen_text, wait_for
    from vnet_tui.core.server import Server
    from vnet_tui.live.watcher import Watcher
    from vnet_tui.ui.app import VnetApp

    info, cli, _state = booted
    want = {name: agent_addrs(info, name) for name in ("vm201", "vm202")}
    assert want["vm201"] and want["vm202"] and set(want["vm201"]).isdisjoint(want["vm202"])
    feed = Watcher(Server(lab=info.name), interval=1.0)
    app = VnetApp(feed)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            vms = app.main.pane("vms")

            def shown(name: str) -> str:
                row = next((r for r in vms.rows_by_key.values() if r.name.startswith(name + "/")), None)
                return row.cells["addr"].plain if row is not None else ""

            await wait_for(pilot, lambda: shown("vm201") and shown("vm202"), timeout=30, what="guest IPs")
            assert "addr" in vms.shown_cols
            for name in ("vm201", "vm202"):
                extra = f" +{len(want[name]) - 1}" if len(want[name]) > 1 else ""
                assert shown(name) == want[name][0] + extra
            # the filter finds a VM by an address only its agent knows
            ip4 = next(a for a in want["vm202"] if "." in a).split("/")[0]
            await pilot.press("slash", *ip4, "enter")
            assert pane_column(app, "vms", "owner") == ["vm202"]
            await pilot.press("slash", "escape")
            # the detail of the selected NIC lists what its agent says
            vms.focus()
            await pilot.pause()
            row = app.selected_row()
            assert row is not None and row.guest is not None and row.guest.guest_addrs
            name = row.name.split("/")[0]
            assert list(row.guest.guest_addrs) == want[name]
            assert f"IPs    {', '.join(want[name])}" in screen_text(app)
            # changed through the agent from the CLI: on screen at the next round, no restart
            cli("adapter", "set", "vm201", "net0", "--add-ip", NEW4)
            try:
                await wait_for(pilot, lambda: NEW4 in " ".join(r.haystack for r in vms.rows_by_key.values()),
                               timeout=30, what="the new guest address")
            finally:
                cli("adapter", "set", "vm201", "net0", "--del-ip", NEW4)
    finally:
        feed.stop()
        assert feed.join(5) or not feed.started
