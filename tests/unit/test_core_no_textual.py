"""The core stays free of Textual: importing any module outside vnet_tui.ui must not load textual.

Every module is found by walking the package (``pkgutil.walk_packages``),
not from a list, and imported in a fresh interpreter one at a time; the
first whose import loads textual is named.
"""

import pkgutil
import subprocess
import sys

import vnet_tui

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
UI = "vnet_tui.ui"


def non_ui_modules() -> list[str]:
    found = [m.name for m in pkgutil.walk_packages(vnet_tui.__path__, "vnet_tui.")]
    return ["vnet_tui"] + sorted(
        m for m in found if m != UI and not m.startswith(UI + ".") and not m.endswith(".__main__")
    )


def test_core_never_imports_textual():
    mods = non_ui_modules()
    assert set(CORE) <= set(mods), "the walk must find the core modules"
    assert len(mods) > 100, mods
    code = (
        "import importlib, sys\n"
        "def bad(): return sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        f"for m in {mods!r}:\n"
        "    importlib.import_module(m)\n"
        "    if bad(): sys.exit(f'importing {m} loaded textual: {bad()[:5]}')\n"
        "print(len(bad()))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "0"
