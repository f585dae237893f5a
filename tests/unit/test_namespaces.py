"""Namespaces by inode: bind mounts from mountinfo, holders from /proc."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.helpers import unique
from vnet_tui.discovery.namespaces import (
    NsInfo,
    is_kernel_thread,
    leader,
    leader_pid,
    netns_mounts,
    proc_comm,
    scan_namespaces,
)

MOUNTINFO = """\
22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
25 22 0:23 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=401348k,mode=755
310 25 0:23 /netns /run/netns rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=401348k,mode=755
311 310 0:4 net:[4026532290] /run/netns/ct101 rw shared:140 - nsfs nsfs rw
312 310 0:4 net:[4026532290] /run/netns/alias rw shared:140 - nsfs nsfs rw
420 25 0:4 net:[4026532411] /run/docker/netns/6f1d2c3b4a59 rw shared:188 - nsfs nsfs rw
421 310 0:4 net:[4026532500] /run/netns/with\\040space rw shared:189 - nsfs nsfs rw
422 25 0:4 mnt:[4026532600] /run/some/mntns rw shared:190 - nsfs nsfs rw
423 22 0:4 net:[4026532700] /var/lib/weird rw master:3 - nsfs nsfs rw
"""


def test_netns_mounts_from_mountinfo() -> None:
    assert list(netns_mounts(MOUNTINFO)) == [
        (4026532290, "/run/netns/ct101"),
        (4026532290, "/run/netns/alias"),
        (4026532411, "/run/docker/netns/6f1d2c3b4a59"),
        (4026532500, "/run/netns/with space"),
        (4026532700, "/var/lib/weird"),  # a net namespace pinned anywhere; mnt ones are not ours
    ]


def test_leader_skips_kernel_threads_and_pids_that_moved() -> None:
    root = os.stat("/proc/self/ns/net").st_ino
    me = os.getpid()
    assert is_kernel_thread(2) is True  # kthreadd
    assert is_kernel_thread(me) is False
    assert is_kernel_thread(2**22 + 1) is None
    assert leader_pid(NsInfo(root, [], [], [2, me])) == me
    # a pid recorded for a namespace it is no longer in does not lead it
    assert leader_pid(NsInfo(root + 1, [], [], [me])) is None
    assert leader_pid(NsInfo(root, [], [], [2**22 + 1])) is None


def test_leader_reads_the_same_from_a_process_table_and_says_a_stopped_one_is_stopped() -> None:
    from vnet_tui.owners.base import ProcTable

    root = os.stat("/proc/self/ns/net").st_ino
    me = os.getpid()
    proc = subprocess.Popen(["sleep", "30"])
    try:
        os.kill(proc.pid, 19)  # SIGSTOP
        deadline = time.monotonic() + 5
        while open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()[0] != "T":
            assert time.monotonic() < deadline, "sleep never stopped"
            time.sleep(0.01)
        table = ProcTable()
        assert 2 in table.kthreads and me not in table.kthreads and table.states[proc.pid] == "T"
        for pids, want in (([2, proc.pid], (proc.pid, "stopped")), ([2, me], (me, "running"))):
            info = NsInfo(root, [], [], pids)
            assert leader(info, table) == leader(info) == want  # kthreadd (2) never leads
        assert leader(NsInfo(root + 1, [], [], [me]), table) == (None, None)  # not in it any more: checked now
    finally:
        proc.kill()
        proc.wait()


def test_proc_comm() -> None:
    assert proc_comm(os.getpid()) == open("/proc/self/comm").read().strip()
    assert proc_comm(2**22 + 1) is None


@pytest.mark.live
def test_named_namespace_and_its_process_share_one_inode() -> None:
    name = f"vt-{unique()}"
    proc = None
    try:
        subprocess.run(["ip", "netns", "add", name], check=True)
        proc = subprocess.Popen(["ip", "netns", "exec", name, "sleep", "30"])
        inode = os.stat(f"/run/netns/{name}").st_ino
        deadline = time.monotonic() + 5
        # until `ip` has done setns and exec'd sleep (CI once read its comm in between: 'ip')
        while os.stat(f"/proc/{proc.pid}/ns/net").st_ino != inode or \
                open(f"/proc/{proc.pid}/comm").read().strip() != "sleep":
            assert time.monotonic() < deadline, "the process never entered the namespace and ran sleep"
            time.sleep(0.01)
        root = os.stat("/proc/self/ns/net").st_ino
        found = scan_namespaces(root_inode=root)
        info = found[inode]
        assert info.names == [name]
        assert f"/run/netns/{name}" in info.paths
        assert info.pids == [proc.pid]
        assert leader_pid(info) == proc.pid
        assert proc_comm(proc.pid) == "sleep"
        assert root not in found  # the host is left out when named
        assert os.getpid() in scan_namespaces()[root].pids
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
