"""A lab's instance id is parsed from lab.json once while the file stays the same one (lab/registry.py).

Every change asks for it twice (the journal records the server); lab.json lists every container.
The id kept must follow the file: rewritten (``write_state`` replaces it), removed, written again.
"""

from __future__ import annotations

import os

from vnet_tui.lab import registry


def test_the_kept_id_follows_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv(registry.STATE_ENV, str(tmp_path))
    os.makedirs(registry.lab_dir("k1"))
    assert registry.instance_id("k1") is None  # no record yet
    registry.write_state("k1", {"instance": "aaaa", "containers": [{"name": f"ct{i}"} for i in range(500)]})
    assert registry.instance_id("k1") == "aaaa"
    parsed = []
    monkeypatch.setattr(registry, "read_state", lambda name: parsed.append(name) or {"instance": "never"})
    assert registry.instance_id("k1") == "aaaa"  # the same file: not parsed again
    assert parsed == []
    monkeypatch.undo()
    monkeypatch.setenv(registry.STATE_ENV, str(tmp_path))
    registry.write_state("k1", {"instance": "bbbb"})  # a rebuilt lab: another file
    assert registry.instance_id("k1") == "bbbb"
    os.remove(os.path.join(registry.lab_dir("k1"), registry.LAB_FILE))
    assert registry.instance_id("k1") is None
    registry.write_state("k1", {"instance": "cccc"})
    assert registry.instance_id("k1") == "cccc"
