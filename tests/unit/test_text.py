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
