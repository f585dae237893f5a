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


def test_dumps_is_json_dumps_of_for_json_without_the_walk_where_nothing_needs_it():
    import json

    from vnet_tui.core.text import dumps, for_json

    undecodable = b"veth\xff".decode("utf-8", "surrogateescape")
    cases = [
        {"ifname": "veth101.0", "mtu": 1500, "addresses": ["198.18.0.1/16"], "alias": None},
        {"ifname": undecodable, "peer": {"owner": "ct101"}},  # an undecodable byte: the walk renders it
        {"alias": "caf\u00e9 \U0001f600", "names": ["x", "y"]},  # non-ASCII, and a character beyond the BMP
        {undecodable: [undecodable, ("a", 1)]},  # a key too, and tuples
        [],
    ]
    for obj in cases:
        for indent in (None, 1):
            assert dumps(obj, indent=indent) == json.dumps(for_json(obj), indent=indent)
    assert "\\xff" in dumps(cases[1]) and "\\udcff" not in dumps(cases[1])
