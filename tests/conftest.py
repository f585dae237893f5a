"""Suite-wide guard: the machine's own network must be exactly as it was.

At session start we record the root namespace's links, addresses and
routes; at the end we assert they are unchanged and that no namespace
(``vl-``/``vt-``) or QEMU process of ours is left that was not there before.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.helpers import ours_left, root_net_state


@pytest.fixture(scope="session", autouse=True)
def root_namespace_unchanged():
    before = root_net_state()
    # whatever of ours already existed (another session's lab on a shared dev machine)
    # is not this run's leftover; on CI this is empty
    present = {k: set(v) for k, v in ours_left().items()}
    yield
    after = root_net_state()
    left = {k: [x for x in v if x not in present.get(k, set())] for k, v in ours_left().items()}
    left = {k: v for k, v in left.items() if v}
    assert after == before, "the root namespace's links/addresses/routes changed during the tests"
    assert not left, f"left behind by the tests: {left}"


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
