"""``--json`` made by two processes: ``show`` at 5,000 containers.

Turning a 5,000-container picture into JSON text (``to_json``, then the
C encoder: 10 MB, half of it the host's 5,000 ports) is 0.6-0.9 s at the
very end of ``show``, when the other core of a 2-core server has nothing
left to do.  ``dumps_split`` has a forked child make and encode some of
the top-level values (the host) while this process does the others,
then joins the texts: the text ``text.dumps`` gives for the whole object,
compact (``json.dumps``' own separators).  If the child fails this
process makes its values itself (core/forked.py).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Sequence

from .forked import Forked
from .text import dumps, has_surrogate_escape


def dumps_split(values: Mapping[str, Callable[[], Any]], in_child: Sequence[str]) -> str:
    """``text.dumps({key: make() for key, make in values.items()})``, compact, in that key order; the
    values of the keys ``in_child`` made and encoded by a forked child meanwhile."""
    theirs_keys = [k for k in values if k in in_child]
    with Forked(lambda: {k: json.dumps(values[k]()) for k in theirs_keys}) as child:
        mine = {k: json.dumps(make()) for k, make in values.items() if k not in in_child}
        theirs = child.result()
    if not isinstance(theirs, dict) or set(theirs) != set(theirs_keys):  # no child, or it failed
        theirs = {k: json.dumps(values[k]()) for k in theirs_keys}
    text = "{" + ", ".join(f"{json.dumps(k)}: {mine[k] if k in mine else theirs[k]}" for k in values) + "}"
    if has_surrogate_escape(text):  # a lone surrogate somewhere (rare): the careful way, whole
        return dumps({k: make() for k, make in values.items()})
    return text
