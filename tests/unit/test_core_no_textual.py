"""The core stays free of Textual: importing it must not load textual."""

import subprocess
import sys

CORE = [
    "vnet_tui.core.model",
    "vnet_tui.core.rates",
    "vnet_tui.core.render",
    "vnet_tui.core.text",
    "vnet_tui.net.session",
    "vnet_tui.net.sweep",
    "vnet_tui.discovery.topology",
    "vnet_tui.commands.show",
    "vnet_tui.cli",
]
OPTIONAL = ["vnet_tui.lab", "vnet_tui.ops", "vnet_tui.safety", "vnet_tui.guest", "vnet_tui.live"]


def test_core_never_imports_textual():
    code = (
        "import importlib, sys\n"
        f"for m in {CORE!r}: importlib.import_module(m)\n"
        f"for m in {OPTIONAL!r}:\n"
        "    try: importlib.import_module(m)\n"
        "    except ModuleNotFoundError as e:\n"
        "        if e.name != m: raise\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(len(bad)); assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "0"
