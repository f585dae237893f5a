"""The CLI end to end with hostile input: every value refused with its rule (exit 2/4), JSON under --json,
no traceback, and the lab exactly as it was."""

from __future__ import annotations

import json

import pytest

from tests.live.test_ops_support import cli, dumps, lab_namespaces, make_lab, settle
from tests.live.test_ops_support import state  # noqa: F401, I001 (a fixture, used by name)
from tests.unit.test_validate import HOSTILE

pytestmark = [pytest.mark.live, pytest.mark.timeout(600)]

USAGE = [
    ["adapter", "add"],
    ["adapter", "add", "ct101", "--mtu", "abc"],
    ["adapter", "add", "ct101", "--mtu", "1e3"],
    ["adapter", "add", "ct101", "--bogus"],
    ["adapter", "set", "ct101"],
    ["adapter", "set", "ct101", "eth0", "--end", "middle"],
    ["adapter", "zap"],
    ["frobnicate"],
    ["undo", "--id"],
    ["adapter", "add", "ct101", "--confirm-timeout", "soon"],
]


@pytest.mark.parametrize("argv", USAGE, ids=lambda a: " ".join(a))
def test_usage_mistakes_are_json_errors_under_json(argv: list[str]) -> None:
    r = cli(*argv, "--json")
    assert r.returncode == 2, (r.stdout, r.stderr)
    err = json.loads(r.stdout)["error"]
    assert err["code"] == 2 and err["rule"] == "usage" and err["message"]
    assert "Traceback" not in r.stderr


def test_hostile_values_through_the_cli_change_nothing(state: str) -> None:  # noqa: F811
    with make_lab(2) as info:
        lab, nss = info.name, lab_namespaces(info.name, 2)
        settle(nss)
        start = dumps(nss)
        tried = 0
        for value in HOSTILE:
            for argv in (
                ["adapter", "add", "ct101", f"--ip={value}"],
                ["adapter", "add", "ct101", f"--ifname={value}"],
                ["adapter", "set", "ct101", "eth0", f"--mac={value}"],
            ):
                r = cli(*argv, "--lab", lab, "--json")
                tried += 1
                assert "Traceback" not in r.stderr, (argv, r.stderr)
                if r.returncode == 0:  # a value that is fine after all (e.g. an upper-case MAC): undo it
                    cli("undo", "--lab", lab, check=0)
                    continue
                assert r.returncode in (2, 4), (argv, r.returncode, r.stdout, r.stderr)
                err = json.loads(r.stdout)["error"]
                assert err["rule"], argv
        settle(nss)
        assert dumps(nss) == start
        print(f"{tried} hostile CLI inputs")


def test_without_privilege_changes_and_lab_reads_exit_3(state: str) -> None:  # noqa: F811
    """Root without CAP_NET_ADMIN/CAP_SYS_ADMIN (setpriv): exit 3 "not permitted", never 4 "no such lab"."""
    import shutil
    import subprocess
    import sys

    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (util-linux)")
    with make_lab(1) as info:
        nss = lab_namespaces(info.name, 1)
        start = dumps(nss)
        for argv in (
            ["adapter", "add", "ct101", "--lab", info.name],
            ["adapter", "set", "ct101", "eth0", "--lab", info.name, "--mtu", "1400"],
            ["show", "--lab", info.name],
        ):
            r = subprocess.run(
                ["setpriv", "--inh-caps=-all", "--bounding-set=-net_admin,-sys_admin", "--",
                 sys.executable, "-m", "vnet_tui", *argv, "--json"],
                capture_output=True, text=True,
            )
            assert r.returncode == 3, (argv, r.stdout, r.stderr)
            assert json.loads(r.stdout)["error"]["code"] == 3 and "Traceback" not in r.stderr
        assert dumps(nss) == start
