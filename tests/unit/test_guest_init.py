"""The guest's /init, its initramfs archive, its QEMU arguments and the agent client — without QEMU."""

from __future__ import annotations

import json
import re
import shutil
import socket
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from vnet_tui.core.errors import InvalidInput
from vnet_tui.guest import init_script
from vnet_tui.guest.image import Cpio, GuestImage
from vnet_tui.guest.qemu_args import guest_qemu_args
from vnet_tui.guest.qga import QGA, QGATimeout

SH = shutil.which("sh") or "/bin/sh"


def parse(cmdline: str, tmp_path: Path) -> dict[str, str]:
    """Run the script's own parser with a POSIX sh on a fake /proc/cmdline."""
    f = tmp_path / "cmdline"
    f.write_text(cmdline + "\n")
    names = ("VNET_IP4", "VNET_IP6", "VNET_GW4", "VNET_GW6", "VNET_HOSTNAME", "VNET_QGA")
    script = init_script.PARSE_FUNCTION + f'vnet_parse "{f}"\n' + "".join(
        f'printf "%s=%s\\n" {n} "${n}"\n' for n in names
    )
    out = subprocess.run([SH, "-c", script], capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines())


def test_parses_vnet_params_among_other_words(tmp_path: Path) -> None:
    got = parse(
        "console=ttyS0 quiet vnet.ip=198.18.2.1/16 vnet.ip6=fd5e:18::2:1/64 "
        "vnet.gw=198.18.0.1 vnet.gw6=fd5e:18::1 vnet.hostname=vm7 panic=-1 vnet.ipx=nope",
        tmp_path,
    )
    assert got == {
        "VNET_IP4": "198.18.2.1/16",
        "VNET_IP6": "fd5e:18::2:1/64",
        "VNET_GW4": "198.18.0.1",
        "VNET_GW6": "fd5e:18::1",
        "VNET_HOSTNAME": "vm7",
        "VNET_QGA": "1",
    }


def test_absent_params_are_empty_and_agent_can_be_turned_off(tmp_path: Path) -> None:
    got = parse("console=ttyS0 quiet panic=-1 vnet.qga=0", tmp_path)
    assert got == {"VNET_IP4": "", "VNET_IP6": "", "VNET_GW4": "", "VNET_GW6": "",
                   "VNET_HOSTNAME": "", "VNET_QGA": "0"}
    assert parse("vnet.ip=10.0.0.2/8", tmp_path)["VNET_IP4"] == "10.0.0.2/8"


def test_module_load_order() -> None:
    assert init_script.MODULES == (
        "virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
        "failover", "net_failover", "virtio_net", "virtio_console",
    )
    script = init_script.render()
    (loop,) = re.findall(r"^for m in (.*); do$", script, re.MULTILINE)
    assert tuple(loop.split()) == init_script.MODULES
    assert "insmod" in script


def test_script_is_valid_sh_and_reads_proc_cmdline() -> None:
    script = init_script.render()
    assert script.startswith("#!/bin/sh\n")
    subprocess.run([SH, "-n", "-c", script], check=True)
    assert "vnet_parse /proc/cmdline" in script
    assert init_script.QGA_PORT_NAME in script and init_script.READY_MARK.split(": ")[1] in script


# ---------------------------------------------------------------- the cpio archive


def read_newc(data: bytes) -> dict[str, tuple[int, bytes, tuple[int, int]]]:
    """name → (mode, data, rdev), parsed independently of the writer."""
    out, pos = {}, 0
    while True:
        assert data[pos : pos + 6] == b"070701", pos
        f = [int(data[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, rdev, namesize = f[1], f[6], (f[9], f[10]), f[11]
        name = data[pos + 110 : pos + 110 + namesize - 1].decode()
        pos = (pos + 110 + namesize + 3) & ~3
        if name == "TRAILER!!!":
            return out
        out[name] = (mode, data[pos : pos + size], rdev)
        pos = (pos + size + 3) & ~3


def test_cpio_newc_round_trip() -> None:
    a = Cpio()
    a.file("usr/sbin/tool", b"\x7fELF" + b"x" * 5, 0o755)
    a.symlink("bin/sh", "busybox")
    a.chardev("dev/console", 5, 1)
    a.dir("usr")  # already implied: not repeated
    data = a.finish()
    assert len(data) % 4 == 0
    got = read_newc(data)
    assert list(got) == ["usr", "usr/sbin", "usr/sbin/tool", "bin", "bin/sh", "dev", "dev/console"]
    assert stat.S_ISDIR(got["usr"][0])
    assert got["usr/sbin/tool"][0] == stat.S_IFREG | 0o755 and got["usr/sbin/tool"][1] == b"\x7fELFxxxxx"
    assert stat.S_ISLNK(got["bin/sh"][0]) and got["bin/sh"][1] == b"busybox"
    assert stat.S_ISCHR(got["dev/console"][0]) and got["dev/console"][2] == (5, 1)


# ---------------------------------------------------------------- QEMU arguments

IMAGE = GuestImage(Path("/c/vmlinuz"), Path("/c/initrd.img"), "6.1.0-test")


def test_qemu_args_carry_the_guest_parameters() -> None:
    args = guest_qemu_args(IMAGE, ip4="198.18.2.1/16", ip6="fd5e::2/64", qga_socket="/run/x/qga.sock",
                           serial_log="/run/x/console.log", mem_mb=320)
    opt = {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i] in ("-kernel", "-initrd", "-append",
                                                                                    "-m", "-serial", "-chardev")}
    assert opt["-kernel"] == "/c/vmlinuz" and opt["-initrd"] == "/c/initrd.img" and opt["-m"] == "320"
    words = opt["-append"].split()
    assert words[:3] == ["console=ttyS0", "quiet", "panic=-1"]
    assert "vnet.ip=198.18.2.1/16" in words and "vnet.ip6=fd5e::2/64" in words and "vnet.qga=0" not in words
    assert opt["-serial"] == "file:/run/x/console.log"
    assert opt["-chardev"] == "socket,id=vnet-qga0,path=/run/x/qga.sock,server=on,wait=off"
    assert any(a.startswith("virtserialport,") and "name=org.qemu.guest_agent.0" in a for a in args)


def test_qemu_args_without_agent_or_log() -> None:
    args = guest_qemu_args(IMAGE, ip4=None, ip6=None, qga_socket=None, serial_log=None)
    assert "vnet.qga=0" in args[args.index("-append") + 1]
    assert args[args.index("-serial") + 1] == "null"
    assert not any("virtserialport" in a for a in args)


@pytest.mark.parametrize("kw", [
    {"ip4": "198.18.2.1"},              # no prefix
    {"ip4": "fd5e::2/64"},              # wrong family
    {"ip6": "198.18.2.1/16"},
    {"ip4": "198.18.2.1/16 init=/bin/sh"},
    {"qga_socket": "/tmp/a,b"},         # would split QEMU's option
    {"serial_log": "/tmp/x y"},
])
def test_qemu_args_refuse_bad_input(kw: dict[str, str]) -> None:
    base: dict[str, str | None] = {"ip4": None, "ip6": None, "qga_socket": None, "serial_log": None}
    with pytest.raises(InvalidInput):
        guest_qemu_args(IMAGE, **{**base, **kw})  # type: ignore[arg-type]


# ---------------------------------------------------------------- agent client against a fake agent


def fake_agent(path: str, stale: bytes = b"") -> threading.Thread:
    """A one-connection agent: sends stale junk first, answers sync-delimited with 0xFF, then commands."""
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)

    def serve() -> None:
        conn, _ = srv.accept()
        srv.close()
        with conn:
            conn.sendall(stale)
            buf = b""
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    req = json.loads(line.lstrip(b"\xff"))
                    cmd = req["execute"]
                    if cmd == "guest-sync-delimited":
                        conn.sendall(b"\xff" + json.dumps({"return": req["arguments"]["id"]}).encode() + b"\n")
                    elif cmd == "guest-ping":
                        conn.sendall(b'{"return": {}}\n')
                    elif cmd == "guest-network-get-interfaces":
                        conn.sendall(json.dumps({"return": [
                            {"name": "lo"},
                            {"name": "eth0", "hardware-address": "c4:37:72:00:00:01",
                             "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "198.18.2.1", "prefix": 16}],
                             "statistics": {"rx-packets": 5, "tx-packets": 1, "rx-bytes": 426, "tx-bytes": 90}},
                        ]}).encode() + b"\n")
                    elif cmd == "guest-hang":
                        pass
                    else:
                        conn.sendall(b'{"error": {"class": "CommandNotFound", "desc": "no such command"}}\n')

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


def test_qga_syncs_past_stale_data_and_reads_interfaces(tmp_path: Path) -> None:
    path = str(tmp_path / "qga.sock")
    fake_agent(path, stale=b'{"return": {"half": "a stale rep')
    with QGA(path, timeout=2) as qga:
        qga.ping()
        ifaces = qga.interfaces()
    assert [i["name"] for i in ifaces] == ["lo", "eth0"]
    assert ifaces[0] == {"name": "lo", "hardware-address": None, "ip-addresses": [], "statistics": {}}
    assert ifaces[1]["statistics"]["rx-packets"] == 5
    assert ifaces[1]["ip-addresses"][0]["ip-address"] == "198.18.2.1"


def test_qga_errors_and_timeouts_are_qga_errors(tmp_path: Path) -> None:
    from vnet_tui.guest.qga import QGAError

    path = str(tmp_path / "qga.sock")
    fake_agent(path)
    with QGA(path, timeout=0.3) as qga:
        with pytest.raises(QGAError, match="no such command"):
            qga.execute("guest-nonsense")
        with pytest.raises(QGATimeout):
            qga.execute("guest-hang")
        qga.ping()  # resynchronises after the timeout, then works
