"""Owners from /proc/PID/cgroup: one real-looking file per runtime pattern."""

from __future__ import annotations

import os

import pytest

from vnet_tui.discovery.cgroup import owner_from_cgroup, owner_from_path, read_cgroup, unescape

H = "4d3f1ab29c7e8d0f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b"  # 64 hex
SHORT = H[:12]
UUID = "7d5ab7a0-5c3e-4f1b-9a2d-0e6c1f3b8a47"

V1_DOCKER = "\n".join(
    [
        f"12:pids:/docker/{H}",
        f"11:memory:/docker/{H}",
        f"4:cpu,cpuacct:/docker/{H}",
        f"1:name=systemd:/docker/{H}",
        "0::/system.slice/containerd.service",
    ]
)

CASES = [
    ("docker cgroupfs v1", V1_DOCKER, ("docker", SHORT)),
    ("docker systemd v2", f"0::/system.slice/docker-{H}.scope\n", ("docker", SHORT)),
    ("docker cgroupfs v2", f"0::/docker/{H}\n", ("docker", SHORT)),
    ("podman rootful", f"0::/machine.slice/libpod-{H}.scope/container\n", ("podman", SHORT)),
    ("podman conmon", f"0::/machine.slice/libpod-conmon-{H}.scope\n", ("podman", SHORT)),
    (
        "podman rootless",
        f"0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{H}.scope/container\n",
        ("podman", SHORT),
    ),
    ("podman cgroupfs", f"0::/libpod_parent/libpod-{H}\n", ("podman", SHORT)),
    (
        "podman pod",
        f"0::/machine.slice/machine-libpod_pod_{'a' * 64}.slice/libpod-{H}.scope/container\n",
        ("podman", SHORT),
    ),
    (
        "k8s containerd systemd",
        "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0e9b1c4d_5f6a_4b7c_8d9e_0f1a2b3c4d5e.slice"
        f"/cri-containerd-{H}.scope\n",
        ("containerd", SHORT),
    ),
    (
        "k8s cgroupfs v1",
        f"11:memory:/kubepods/besteffort/pod0e9b1c4d-5f6a-4b7c-8d9e-0f1a2b3c4d5e/{H}\n"
        f"1:name=systemd:/kubepods/besteffort/pod0e9b1c4d-5f6a-4b7c-8d9e-0f1a2b3c4d5e/{H}\n",
        ("containerd", SHORT),
    ),
    (
        "cri-o",
        f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podX.slice/crio-{H}.scope\n",
        ("containerd", SHORT),
    ),
    ("containerd cgroupfs ns", f"0::/k8s.io/{H}\n", ("containerd", SHORT)),
    ("nerdctl", f"0::/system.slice/nerdctl-{H}.scope\n", ("containerd", SHORT)),
    ("lxc 4 payload", "0::/lxc.payload.web1/init.scope\n", ("lxc", "web1")),
    ("lxc monitor", "0::/lxc.monitor.web1\n", ("lxc", "web1")),
    ("incus project", "0::/lxc.payload.prod_db1/system.slice/cron.service\n", ("lxc", "prod_db1")),
    ("lxd old", "0::/lxc.payload/c1/init.scope\n", ("lxc", "c1")),
    (
        "proxmox v1",
        "10:memory:/lxc/101\n9:pids:/lxc/101\n1:name=systemd:/lxc/101/init.scope\n0::/lxc/101\n",
        ("lxc", "101"),
    ),
    ("proxmox v2 ns", "0::/lxc/101/ns/system.slice/systemd-journald.service\n", ("lxc", "101")),
    ("proxmox v2 monitor", "0::/lxc.monitor/101\n", ("lxc", "101")),
    ("nspawn service", "0::/machine.slice/systemd-nspawn@deb12.service/payload/init.scope\n", ("nspawn", "deb12")),
    ("nspawn escaped", "0::/machine.slice/systemd-nspawn@my\\x2dbox.service/payload\n", ("nspawn", "my-box")),
    ("nspawn machine scope", "0::/machine.slice/machine-deb12.scope/payload\n", ("nspawn", "deb12")),
    (
        "libvirt qemu",
        "0::/machine.slice/machine-qemu\\x2d3\\x2dweb\\x2dvm.scope/libvirt/emulator\n",
        ("libvirt", "web-vm"),
    ),
    ("libvirt old", "1:name=systemd:/machine.slice/machine-qemu\\x2dvm1.scope\n", ("libvirt", "vm1")),
    ("libvirt lxc", "0::/machine.slice/machine-lxc\\x2d4242\\x2dct1.scope\n", ("libvirt", "ct1")),
    ("libvirt no systemd", "3:cpu:/machine/vm7.libvirt-qemu/emulator\n", ("libvirt", "vm7")),
    (
        "virtuozzo 7 uuid",
        f"11:ve:/{UUID}\n10:memory:/machine.slice/{UUID}\n1:name=systemd:/machine.slice/{UUID}\n",
        ("virtuozzo", UUID),
    ),
    ("virtuozzo legacy ctid", "9:ve:/101\n8:memory:/101\n1:name=systemd:/ve-101.slice\n", ("virtuozzo", "101")),
    ("virtuozzo systemd slice", "1:name=systemd:/ve-101.slice\n", ("virtuozzo", "101")),
    ("docker inside lxc: innermost wins", f"0::/lxc.payload.c1/system.slice/docker-{H}.scope\n", ("docker", SHORT)),
]


@pytest.mark.parametrize("text,expected", [(t, e) for _, t, e in CASES], ids=[c[0] for c in CASES])
def test_owner_patterns(text: str, expected: tuple[str, str]) -> None:
    assert owner_from_cgroup(text) == expected


NEGATIVES = [
    ("user session v2", "0::/user.slice/user-1000.slice/session-3.scope\n"),
    ("systemd service", "0::/system.slice/ssh.service\n"),
    ("init", "0::/init.scope\n"),
    ("root", "0::/\n"),
    (
        "user session v1",
        "12:pids:/user.slice/user-1000.slice/session-4.scope\n"
        "4:memory:/user.slice/user-1000.slice/session-4.scope\n"
        "1:name=systemd:/user.slice/user-1000.slice/session-4.scope\n0::/user.slice/user-1000.slice/session-4.scope\n",
    ),
    ("short hex under docker", "0::/docker/abc123\n"),
    ("docker service itself", "0::/system.slice/docker.service\n"),
    ("empty", ""),
    ("garbage", "not a cgroup file\n"),
    ("machine.slice without a machine", "0::/machine.slice\n"),
]


@pytest.mark.parametrize("text", [t for _, t in NEGATIVES], ids=[n for n, _ in NEGATIVES])
def test_not_a_container(text: str) -> None:
    assert owner_from_cgroup(text) is None


def test_v1_prefers_a_line_that_names_an_owner() -> None:
    # the unified line shows the daemon's service; the v1 lines show the container
    assert owner_from_cgroup(V1_DOCKER) == ("docker", SHORT)
    assert owner_from_path("/system.slice/containerd.service") is None


def test_unescape() -> None:
    assert unescape("qemu\\x2d1\\x2dvm") == "qemu-1-vm"
    assert unescape("plain") == "plain"


def test_read_cgroup_of_self_and_of_a_gone_pid() -> None:
    text = read_cgroup(os.getpid())
    assert text is not None and text.splitlines()[-1].startswith("0::")
    assert read_cgroup(2**22 + 1) is None  # above pid_max's ceiling: never a process
