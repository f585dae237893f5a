"""Suite-wide guard: the machine's own network must be exactly as it was, and its vnet-tui state too.

At session start we record the root namespace's links, addresses and
routes; at the end we assert they are unchanged and that no namespace
(``vl-``/``vt-``) or QEMU process of ours is left that was not there before.

Tests never write the shared state directory (``/var/lib/vnet-tui``: an
operator's journal, locks and labs).  Unless the caller names one in
``VNET_TUI_STATE``, the session gets a private one, set here before any
test runs (a test or its CLI subprocess that sets none uses it) and
removed at the end; the shared directory is asserted untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

import pytest

from tests.helpers import ours_left, root_net_state
from vnet_tui.safety.journalfile import DEFAULT_STATE, STATE_ENV

PRIVATE_STATE: Optional[str] = None
if not os.environ.get(STATE_ENV):
    PRIVATE_STATE = tempfile.mkdtemp(prefix="vnet-tui-tests-")
    os.environ[STATE_ENV] = PRIVATE_STATE


def state_files(d: Path) -> Optional[list[tuple[str, int, int]]]:
    """Each file under ``d`` with its size and mtime (None: no such directory)."""
    if not d.is_dir():
        return None
    out = []
    for p in d.rglob("*"):
        try:
            st = p.lstat()
        except FileNotFoundError:
            continue
        out.append((str(p.relative_to(d)), st.st_size, st.st_mtime_ns))
    return sorted(out)


@pytest.fixture(scope="session", autouse=True)
def root_namespace_unchanged():
    before = root_net_state()
    shared = Path(DEFAULT_STATE)
    shared_before = state_files(shared) if PRIVATE_STATE else None
    # whatever of ours already existed (another session's lab on a shared dev machine)
    # is not this run's leftover; on CI this is empty
    present = {k: set(v) for k, v in ours_left().items()}
    yield
    after = root_net_state()
    left = {k: [x for x in v if x not in present.get(k, set())] for k, v in ours_left().items()}
    left = {k: v for k, v in left.items() if v}
    if PRIVATE_STATE:
        shutil.rmtree(PRIVATE_STATE, ignore_errors=True)
    assert after == before, "the root namespace's links/addresses/routes changed during the tests"
    assert not left, f"left behind by the tests: {left}"
    if PRIVATE_STATE:
        assert state_files(shared) == shared_before, f"the tests wrote to the shared state directory {shared}"


def _qemu_binary() -> str | None:
    """The QEMU the lab would run ($VNET_TUI_QEMU or qemu-system-x86_64 on PATH), if present."""
    import shutil

    want = os.environ.get("VNET_TUI_QEMU") or "qemu-system-x86_64"
    return shutil.which(want)


def pytest_collection_modifyitems(config, items):
    """Report honestly what cannot run here: skipped with the reason, never an xfail that never ran.

    Live tests need root (network namespaces, the real kernel); tests marked
    ``qemu`` need a QEMU binary.
    """
    no_root = os.geteuid() != 0
    no_qemu = _qemu_binary() is None
    for item in items:
        if no_root and "live" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="live test: needs root (network namespaces, the real kernel)"))
        elif no_qemu and "qemu" in item.keywords:
            item.add_marker(pytest.mark.skip(
                reason="needs QEMU: qemu-system-x86_64 not found (make system-deps installs it; or set VNET_TUI_QEMU)"))
