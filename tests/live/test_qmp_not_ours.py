"""A QMP monitor vnet-tui did not make is never opened: not by show, not by a planned change.

A real QEMU runs with ``-qmp unix:PATH`` in a test namespace.  The test
then takes PATH over with a listening socket of its own (QEMU keeps
serving the unlinked one), so any connection vnet-tui made would be
counted here.  Discovery must describe the VM from its process alone
(runtime ``qemu``, no ``qmp``) and a planned adapter must not speak QMP.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.helpers import netns, unique

pytestmark = [pytest.mark.live, pytest.mark.qemu]


def vnet(*args, state):
    env = {**os.environ, "VNET_TUI_STATE": state}
    return subprocess.run([sys.executable, "-m", "vnet_tui", *args], capture_output=True, text=True, env=env)


class Listener:
    """A unix socket that counts who connects to it."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.count = 0
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.count += 1
            conn.close()

    def close(self) -> None:
        self.stop = True
        self.thread.join()
        self.sock.close()


def test_someone_elses_qmp_monitor_is_never_opened(tmp_path):
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("NOT TESTED: qemu-system-x86_64 is not installed")
    qmp = str(tmp_path / "monitor.qmp")
    tap = "vme0000bb01.0"
    state = str(tmp_path / "state")
    with netns() as (ns,):
        subprocess.run(["ip", "-n", ns, "tuntap", "add", "dev", tap, "mode", "tap"], check=True)
        name = unique("vq")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "qemu-system-x86_64", "-accel", "tcg", "-machine", "q35", "-S",
             "-nodefaults", "-display", "none", "-name", f"guest={name}",
             "-qmp", f"unix:{qmp},server=on,wait=off",
             "-netdev", f"tap,id=net0,ifname={tap},script=no,downscript=no",
             "-device", "virtio-net-pci,netdev=net0,id=net0,mac=c4:37:72:00:bb:01"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        listener = None
        try:
            for _ in range(200):
                if os.path.exists(qmp):
                    break
                time.sleep(0.05)
            assert os.path.exists(qmp), "QEMU did not make its monitor socket"
            os.unlink(qmp)
            listener = Listener(qmp)

            r = vnet("show", "--netns", ns, "--json", state=state)
            assert r.returncode == 0, r.stderr
            vm = next(v for v in json.loads(r.stdout)["vms"] if v["name"] == name)
            assert vm["runtime"] == "qemu" and vm["qmp"] is None and vm["qga"] is None
            assert vm["adapters"][0]["host_ifname"] == tap
            assert vm["adapters"][0]["guest_mac"] == "c4:37:72:00:bb:01"

            r = vnet("adapter", "add", name, "--netns", ns, "--dry-run", "--json", state=state)
            assert r.returncode == 0, r.stdout + r.stderr
            out = json.loads(r.stdout)
            assert not any(c.startswith("qmp ") for c in out["commands"])
            assert out["persists"].startswith("no: lost when QEMU")
            assert listener.count == 0, f"vnet-tui connected {listener.count}× to a monitor that is not ours"
        finally:
            if listener:
                listener.close()
            proc.kill()
            proc.wait()
