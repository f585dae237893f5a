"""Reading works for every user (SAFETY.md, issue 10 item 2), proven as uid 65534 (nobody).

What nobody runs is a copy of the package and of the venv's site-packages
in a world-readable temporary folder, started by an interpreter nobody
can execute: a checkout under /root (mode 0700) is not readable by that
user, and neither is a venv (or a pyenv Python) under it.  The copy is
removed after the module.

An unprivileged process's own namespace plays the server: the process is
started inside a throwaway namespace (``ip netns exec``) and then drops to
nobody, just as an ordinary login reads the root namespace — the machine's
own network is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

import vnet_tui
from tests.helpers import ip_json, netns, unique
from vnet_tui.lab import lab, registry

pytestmark = pytest.mark.live

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
# not what nobody needs, and large
SKIP = ("pip", "setuptools", "pkg_resources", "_distutils_hack", "_pytest", "pytest", "__pycache__",
        "*.pth", "pytest_*", "py.py")


def others_can_run(path: str) -> bool:
    """Can a user who is neither owner nor in the group execute ``path`` (every folder above it searchable)?"""
    real = Path(os.path.realpath(path))
    try:
        if not real.stat().st_mode & stat.S_IXOTH:
            return False
        return all(p.stat().st_mode & stat.S_IXOTH for p in real.parents)
    except OSError:
        return False


def interpreter() -> Optional[str]:
    """An interpreter of this Python's version that any user can execute (None if there is none)."""
    ver = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [getattr(sys, "_base_executable", ""), sys.executable, os.path.realpath(sys.executable)]
    candidates += [os.path.join(d, f"python{ver}") for d in ("/usr/local/bin", "/usr/bin", "/bin")]
    for c in candidates:
        if not c or not os.path.exists(c) or not others_can_run(c):
            continue
        r = subprocess.run(NOBODY + [c, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                           capture_output=True, text=True, cwd="/")
        if r.returncode == 0 and r.stdout.strip() == ver:
            return c
    return None


def copy_for_nobody(root: str) -> list[str]:
    """Copy the package and the venv's site-packages under ``root``; the PYTHONPATH that finds them."""
    pkg = os.path.join(root, "pkg")
    shutil.copytree(os.path.dirname(vnet_tui.__file__), os.path.join(pkg, "vnet_tui"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    paths = [pkg]
    for i, sp in enumerate(p for p in site.getsitepackages() if os.path.isdir(p)):
        dst = os.path.join(root, f"site{i}")
        shutil.copytree(sp, dst, ignore=shutil.ignore_patterns(*SKIP), symlinks=True)
        paths.append(dst)
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p):
                os.chmod(p, 0o755 if os.access(p, os.X_OK) else 0o644)
    return paths


class Nobody:
    """Runs Python as uid 65534 with the readable copy."""

    def __init__(self, python: str, pythonpath: list[str], root: str) -> None:
        self.python = python
        self.root = root
        self.env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/", "LANG": "C.UTF-8",
                    "PYTHONPATH": ":".join(pythonpath), "PYTHONNOUSERSITE": "1",
                    "PYTHONDONTWRITEBYTECODE": "1", registry.STATE_ENV: os.path.join(root, "state")}

    def argv(self, *args: str, netns_name: Optional[str] = None) -> list[str]:
        pre = ["ip", "netns", "exec", netns_name] if netns_name else []
        return pre + NOBODY + [self.python, *args]

    def run(self, *args: str, netns_name: Optional[str] = None, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args, netns_name=netns_name), capture_output=True, text=True,
                              env=self.env, cwd="/", timeout=timeout)

    def popen(self, *args: str, netns_name: Optional[str] = None) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*args, netns_name=netns_name), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env, cwd="/")


@pytest.fixture(scope="module")
def nobody() -> Iterator[Nobody]:
    python = interpreter()
    if python is None:
        pytest.skip(f"no Python {sys.version_info.major}.{sys.version_info.minor} that uid 65534 may run")
    root = tempfile.mkdtemp(prefix="vnet-nobody-")
    try:
        os.chmod(root, 0o755)
        paths = copy_for_nobody(root)
        os.makedirs(os.path.join(root, "state"), mode=0o755)  # root's labs, as /var/lib/vnet-tui
        yield Nobody(python, paths, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def private_state(nobody, monkeypatch):
    """Labs made here are recorded in the copy's folder, which nobody's commands read too."""
    monkeypatch.setenv(registry.STATE_ENV, nobody.env[registry.STATE_ENV])


def test_reading_works_without_privilege(nobody):
    """`show` as nobody reads its own (the root) namespace without setns."""
    r = nobody.run("-m", "vnet_tui", "show", "--json")
    assert r.returncode == 0, r.stderr
    names = {i["ifname"] for i in json.loads(r.stdout)["host"]["interfaces"]}
    assert names == {l["ifname"] for l in ip_json("link", "show")}


def test_what_nobody_runs_is_the_copy_not_the_checkout(nobody):
    r = nobody.run("-c", "import os, vnet_tui; print(os.getuid(), vnet_tui.__file__)")
    assert r.returncode == 0, r.stderr
    uid, where = r.stdout.split()
    assert uid == "65534" and where.startswith(nobody.root + "/")


PROBE = textwrap.dedent('''
    import json, sys, threading, time
    from vnet_tui.core.server import Server
    from vnet_tui.live.watcher import Watcher
    from vnet_tui.net.rtnl.stats import counter_values

    w = Watcher(Server(), interval=0.2)
    lock = threading.Lock()
    def out(kind, **kw):
        with lock:
            print(json.dumps({"kind": kind, **kw}), flush=True)
    def topo(t):
        out("topology", host={i.ifname: None if i.peer is None else
                              [i.peer.kind, i.peer.owner, i.peer.netns, i.peer.ifname] for i in t.host.interfaces},
            containers=[c.name for c in t.containers])
    def sample(s):
        out("sample", counters=[list(k) + list(counter_values(v)[:4]) for k, v in s.counters.items()])
    th = threading.Thread(target=w.run, args=(topo, sample, lambda why: out("error", why=why)))
    th.start()
    sys.stdin.readline()  # the test says when to stop
    w.stop()
    th.join(10)
    out("done", alive=th.is_alive(), running=w.running)
''')


def read_until(proc: subprocess.Popen, want, timeout: float = 20.0) -> list[dict]:
    """Lines from the probe until ``want(line)`` holds (the lines so far); fails on an error line."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw = proc.stdout.readline()
        if not raw:
            break
        line = json.loads(raw)
        seen.append(line)
        assert line["kind"] != "error", line
        if want(line):
            return seen
    raise AssertionError(f"never seen; last lines: {seen[-3:]}; stderr: {proc.stderr.read() if proc.poll() is not None else ''}")


def test_an_unprivileged_watcher_follows_its_own_namespace_live(nobody):
    """The feed of an unprivileged user: live, never stopped; a peer it may not see is marked so."""
    with netns(2) as (host, ct):
        subprocess.run(["ip", "-n", host, "link", "add", "veth7.0", "type", "veth", "peer", "name", "eth0",
                        "netns", ct], check=True)
        proc = nobody.popen("-c", PROBE, netns_name=host)
        try:
            seen = read_until(proc, lambda l: l["kind"] == "topology")
            first = seen[-1]
            assert set(first["host"]) == {"lo", "veth7.0"}
            # the peer lives in a namespace nobody may not enter: named, its end not visible
            assert first["host"]["veth7.0"] == ["container", ct, ct, None]
            assert first["containers"] == []
            # counters come, sweep after sweep, for the namespace it can read
            read_until(proc, lambda l: l["kind"] == "sample" and len(l["counters"]) == 2)
            # a change underneath shows without a restart: the feed follows events
            subprocess.run(["ip", "-n", host, "link", "add", "vnb0", "type", "veth", "peer", "name", "vnb1"],
                           check=True)
            seen = read_until(proc, lambda l: l["kind"] == "topology" and "vnb0" in l["host"])
            last = seen[-1]["host"]
            assert last["vnb0"] == ["host", None, None, "vnb1"] and last["vnb1"] == ["host", None, None, "vnb0"]
            subprocess.run(["ip", "-n", host, "link", "del", "vnb0"], check=True)
            read_until(proc, lambda l: l["kind"] == "topology" and "vnb0" not in l["host"])
            out, err = proc.communicate("\n", timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        done = json.loads(out.strip().splitlines()[-1])
        assert done == {"kind": "done", "alive": False, "running": False}, err
        assert not [json.loads(l) for l in out.splitlines() if '"error"' in l]


def test_a_lab_nobody_may_enter_is_not_permitted_and_an_unknown_one_is_not_found(nobody):
    name = unique()
    with lab(name, containers=1, vms=0):
        r = nobody.run("-m", "vnet_tui", "show", "--lab", name, "--json")
        assert r.returncode == 3, (r.stdout, r.stderr)
        err = json.loads(r.stdout)["error"]
        assert err["code"] == 3 and err["rule"] == "privilege" and "not permitted" in err["message"]
        tui = nobody.run("-m", "vnet_tui", "--lab", name)  # the TUI refuses before its screen opens
        assert tui.returncode == 3, tui.stderr
        assert "not permitted" in tui.stderr and "no such lab" not in tui.stderr
        # lab list: the lab is there, its record (root's, 0700) is not readable: said so, not "incomplete"
        listed = nobody.run("-m", "vnet_tui", "lab", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        mine = {l["name"]: l for l in json.loads(listed.stdout)["labs"]}[name]
        assert (mine["status"], mine["containers"]) == ("not readable", 1)
    r = nobody.run("-m", "vnet_tui", "show", "--lab", unique(), "--json")
    assert r.returncode == 4 and json.loads(r.stdout)["error"]["code"] == 4
