"""The policy core never imports Textual (nor does anything it pulls in)."""

import subprocess
import sys

MODULES = ["vnet_tui.policy", "vnet_tui.policy.plan", "vnet_tui.policy.read", "vnet_tui.policy.remove",
           "vnet_tui.policy.vlan", "vnet_tui.policy.cable", "vnet_tui.policy.probe"]


def test_policy_never_imports_textual():
    code = (
        "import importlib, sys\n"
        f"for m in {MODULES!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "assert not bad, bad\n"
        "assert 'vnet_tui.policy.plan' in sys.modules\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
