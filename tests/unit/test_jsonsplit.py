"""``--json`` made by two processes (core/jsonsplit.py) is the text one process makes."""

from __future__ import annotations

import json

from vnet_tui.core import forked
from vnet_tui.core.jsonsplit import dumps_split
from vnet_tui.core.text import dumps


def _values(bad: str = "x") -> dict:
    host = {"interfaces": [{"ifname": f"veth{i}.0", "mtu": 1500, "alias": None, "ok": True} for i in range(50)]}
    cts = [{"name": f"ct{i}", "ifaces": [], "n": i / 3} for i in range(7)]
    return {"host": lambda: host, "containers": lambda: cts, "vms": lambda: [], "note": lambda: bad}


def _whole(values: dict) -> str:
    return dumps({k: make() for k, make in values.items()})


def test_the_split_text_is_the_whole_text():
    v = _values()
    text = dumps_split(v, in_child=("host",))
    assert text == _whole(v) == json.dumps({k: make() for k, make in v.items()})
    assert dumps_split(v, in_child=("host", "vms")) == text
    assert dumps_split(v, in_child=()) == text


def test_a_lone_surrogate_is_escaped_as_dumps_does():
    v = _values("name\udcff")  # an undecodable byte of a system name
    assert dumps_split(v, in_child=("note",)) == _whole(v)
    assert "\\xff" in _whole(v)


def test_without_a_child_this_process_makes_it_all(monkeypatch):
    monkeypatch.setattr(forked, "can_fork", lambda: False)
    v = _values()
    assert dumps_split(v, in_child=("host",)) == _whole(v)
