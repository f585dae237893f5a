"""nft run as a process of its own enters its namespace without Python code in the child.

Past ~1,000 descriptors (a big server's TUI) nft runs as a binary.  Entering the namespace with a
``preexec_fn`` made the interpreter fork() (copying the page tables of a 200 MB process while a
worker held the interpreter lock: the UI stood still at each policy read) and runs Python in the
child of a threaded process.  The interpreter calls its at-fork hooks exactly when it runs a
``preexec_fn``; here a child process counts them around a real ``nft`` run in a namespace of the
test's own, whose table the answer must list (the namespace was entered).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.helpers import netns

pytestmark = pytest.mark.live

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.skipif(shutil.which("nft") is None or shutil.which("nsenter") is None,
                    reason="no nft or nsenter")
def test_nft_binary_enters_the_namespace_without_a_fork_hook():
    with netns(1) as (ns,):
        subprocess.run(["ip", "netns", "exec", ns, "nft", "add", "table", "inet", "vt_spawn_probe"],
                       check=True)
        code = textwrap.dedent(f"""
            import os, json
            forks = []
            os.register_at_fork(before=lambda: forks.append(1))
            from vnet_tui.net.netns import open_netns
            from vnet_tui.policy import nft
            fd = open_netns({ns!r})
            rc, out, err = nft._run_binary(fd, json.dumps({{"nftables": [{{"list": {{"tables": {{}}}}}}]}}))
            names = [i["table"]["name"] for i in json.loads(out)["nftables"] if "table" in i]
            print(json.dumps({{"rc": rc, "names": names, "forks": len(forks)}}), flush=True)
        """)
        r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr[-2000:]
        got = json.loads(r.stdout.strip().splitlines()[-1])
        assert got["rc"] == 0
        assert got["names"] == ["vt_spawn_probe"]  # the test's namespace, not ours
        assert got["forks"] == 0  # no Python ran between fork and exec
