"""`vnet-tui show`'s tables (commands/show.py) on the recorded topology: they fit, and say everything once."""

from __future__ import annotations

import pytest
from rich.console import Console

from vnet_tui.commands.show import tables
from vnet_tui.core.model import Owner

from .pilot import small_topology


def render(width: int, topo=None) -> str:
    c = Console(width=width, record=True, color_system=None, file=open("/dev/null", "w"))
    for t in tables(topo or small_topology(), width):
        c.print(t)
    return c.export_text()


@pytest.mark.parametrize("width", [80, 120, 240])
def test_tables_fit_the_terminal_and_keep_names_states_and_both_ends(width):
    text = render(width)
    assert max(len(line) for line in text.splitlines()) <= width
    for word in ("IFNAME", "STATE", "PEER", "OWNER", "GUEST END", "HOST END", "RUNTIME", "veth101.0",
                 "vme0000c9a2.0", "ct103", "vm202"):
        assert word in text, (width, word)
    assert "\\x0a" not in text  # several addresses: one a line, not an escaped newline
    assert "198.18.1.1/16" in text and "fd00:5654::1:1/64" in text


def test_narrow_tables_say_what_they_left_out_and_wide_ones_leave_nothing_out():
    assert "left out at 80 columns" in render(80) and "MAC" in render(80).split("left out at 80 columns")[1]
    assert "left out" not in render(240)


def test_runtime_and_state_of_containers_and_vms():
    topo = small_topology()
    topo.containers[0].owner = Owner("docker", "abc123", "web", image="nginx:1.27", state="paused")
    topo.containers[0].runtime = "docker"
    topo.vms[0].running = True
    text = render(120, topo)
    owners = text.split("Containers and VMs")[1].split("Adapters")[0]
    rows = {line.split()[0]: line for line in owners.splitlines() if line.split()}
    assert "docker" in rows["ct101"] and "paused" in rows["ct101"] and "nginx:1.27" in rows["ct101"]
    assert "running" in rows["vm201"] and "paused" in rows["vm202"] and "VM" in rows["vm202"]
