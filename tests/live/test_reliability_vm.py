"""kill -9 at every send of a VM adapter add (rtnetlink and QMP): the next start settles it.

Each kill point gets a fresh lab with one paused VM (a completed hot-plug
cannot be unplugged from a paused guest, so it cannot be undone in place).
After the kill, ``txn.recover.at_start()`` — what the TUI's start calls —
must leave either nothing (the tap gone, QEMU's NICs and netdevs as at the
start) or a complete, journaled adapter (the tap, and QEMU's NIC with the
planned MAC on it); never an open entry.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.live.test_ops_support import cli_json, dumps, make_lab, settle
from tests.live.test_ops_support import state  # noqa: F401, I001 (a fixture, used by name)
from tests.live.test_ops_vme import qemu_view
from vnet_tui.safety import journal
from vnet_tui.txn import recover

pytestmark = [pytest.mark.live, pytest.mark.qemu, pytest.mark.timeout(900)]

MAC = "c4:37:72:77:00:09"


def argv(lab: str) -> list[str]:
    return [sys.executable, "-m", "vnet_tui", "adapter", "add", "vm201", "--lab", lab, "--bridge", "br0", "--mac", MAC]


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (make system-deps installs it)")
def test_vm_add_killed_at_every_send_is_settled(state: str) -> None:  # noqa: F811
    with make_lab(0, vms=1) as info:
        trace = subprocess.run(["strace", "-f", "-qq", "-e", "trace=sendto,fsync", *argv(info.name)],
                               capture_output=True, text=True, timeout=120)
        assert trace.returncode == 0, trace.stderr[-2000:]
        calls = ["fsync" if "fsync(" in x else "sendto" for x in trace.stderr.splitlines() if "(" in x]
        before, total = calls[: calls.index("fsync")].count("sendto"), calls.count("sendto")
    outcomes: dict[str, int] = {}
    for n in range(max(1, before - 3), total + 1):
        with make_lab(0, vms=1) as info:
            host = f"vl-{info.name}-host"
            settle([host])
            qmp = cli_json("show", "--lab", info.name)["vms"][0]["qmp"]
            start_kernel, start_qemu = dumps([host]), qemu_view(qmp)
            r = subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=sendto", "-e",
                                f"inject=sendto:signal=SIGKILL:when={n}", *argv(info.name)],
                               capture_output=True, text=True, timeout=120)
            assert "Traceback" not in r.stderr
            notes = recover.at_start()
            assert not journal.incomplete(), (n, notes)
            mine = [e for e in journal.entries() if (e.get("server") or {}).get("lab") == info.name]
            added = [e for e in mine if e["op"] == "add"]
            view = qemu_view(qmp)
            if added:
                tap = added[-1]["target"]["tap"]
                assert any(x[1] == MAC and x[3] == tap for x in view["nics"]), (n, view)
                key = "finished" if r.returncode == 0 else "completed"
            else:
                settle([host])
                assert dumps([host]) == start_kernel, (n, notes)
                assert view == start_qemu, (n, notes)
                key = "rolled back" if any(e["op"] == "begin" for e in mine) else "killed before writing ahead"
            outcomes[key] = outcomes.get(key, 0) + 1
    print(f"vm add: {total - max(1, before - 3) + 1} kill points (sends {max(1, before - 3)}–{total}, "
          f"{before} before the write-ahead line): {outcomes}")
    assert outcomes.get("rolled back") and outcomes.get("completed")


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (make system-deps installs it)")
def test_vm_delete_killed_at_every_send_is_finished_and_journaled(state: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """A hot-plugged adapter deleted from a paused VM (the guest never releases it: unplug pending).

    strace without -f: the delete starts a detached unplug finisher, which must be neither traced
    (strace would wait for it) nor killed."""
    from vnet_tui.ops import unplug

    monkeypatch.setattr(unplug, "WAIT", 0.3)

    def delete(lab: str, tap: str) -> list[str]:
        return [sys.executable, "-m", "vnet_tui", "adapter", "del", "vm201", tap, "--lab", lab]

    def fresh(lab: str) -> str:
        r = subprocess.run(argv(lab) + ["--json"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return next(e for e in journal.entries() if e["op"] == "add"
                    and (e.get("server") or {}).get("lab") == lab)["target"]["tap"]

    with make_lab(0, vms=1) as info:
        tap = fresh(info.name)
        trace = subprocess.run(["strace", "-qq", "-e", "trace=sendto,fsync", *delete(info.name, tap)],
                               capture_output=True, text=True, timeout=120,
                               env={**__import__("os").environ, "VNET_TUI_UNPLUG_WAIT": "0.3"})
        assert trace.returncode == 0, trace.stderr[-2000:]
        calls = ["fsync" if "fsync(" in x else "sendto" for x in trace.stderr.splitlines() if "(" in x]
        before, total = calls[: calls.index("fsync")].count("sendto"), calls.count("sendto")
    outcomes: dict[str, int] = {}
    for n in range(max(1, before - 2), total + 1):
        with make_lab(0, vms=1) as info:
            tap = fresh(info.name)
            r = subprocess.run(["strace", "-qq", "-o", "/dev/null", "-e", "trace=sendto", "-e",
                                f"inject=sendto:signal=SIGKILL:when={n}", *delete(info.name, tap)],
                               capture_output=True, text=True, timeout=120,
                               env={**__import__("os").environ, "VNET_TUI_UNPLUG_WAIT": "0.3"})
            assert "Traceback" not in r.stderr
            notes = recover.at_start()
            assert not journal.incomplete(), (n, notes)
            mine = [e for e in journal.entries() if (e.get("server") or {}).get("lab") == info.name]
            dels = [e for e in mine if e["op"] == "del"]
            if dels:
                assert dels[-1]["target"]["tap"] == tap
                key = "finished" if r.returncode == 0 else (
                    "completed, unplug pending" if dels[-1].get("pending") else "completed")
            else:
                assert not any(e["op"] == "begin" and e.get("change") == "del" for e in mine), (n, notes)
                key = "killed before writing ahead"
            outcomes[key] = outcomes.get(key, 0) + 1
    print(f"vm delete: {total - max(1, before - 2) + 1} kill points ({before} sends before the write-ahead line): "
          f"{outcomes}")
    assert outcomes.get("completed, unplug pending") or outcomes.get("completed")
