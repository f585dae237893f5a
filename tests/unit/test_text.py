from rich.text import Text

from vnet_tui.core.text import safe, visible


def test_markup_is_literal():
    t = safe("[bold]x[/]")
    assert isinstance(t, Text)
    assert t.plain == "[bold]x[/]"
    assert not t.spans


def test_controls_and_bidi_are_escaped():
    assert visible("a\x1b[31mb") == "a\\x1b[31mb"
    assert visible("\x7f\x85") == "\\x7f\\x85"
    assert visible("abc\u202edef\u2066") == "abc\\u202edef\\u2066"
    assert visible("plain-name.0") == "plain-name.0"
    assert visible(None) == ""


def test_bytes_that_are_not_utf8_are_visible_and_defined_in_json():
    import json

    from vnet_tui.core.text import for_json, from_bytes

    name = from_bytes(b"eth\x9b1\xff")  # 0x9b alone is a C1 escape (CSI) on some terminals
    assert visible(name) == "eth\\x9b1\\xff"
    assert "\x9b" not in visible(name) and visible(name).isprintable()
    out = json.dumps(for_json({"ifname": name, "ok": "ct101"}), ensure_ascii=False)
    out.encode("utf-8")  # valid UTF-8: no lone surrogates left
    assert json.loads(out) == {"ifname": "eth\\x9b1\\xff", "ok": "ct101"}
    assert visible("\ud800x") == "\\ud800x"
    assert safe(name).plain == "eth\\x9b1\\xff"
