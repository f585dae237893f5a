"""The cyclic GC held off while a big structure is built: ``with gc_held_off(): …``.

At 5,000 containers a whole picture (the watcher's assembly, the UI's
10,000 rows) makes hundreds of thousands of objects that live on; with
the GC on, full collections over them came again and again while they
were made (0.05-0.3 s each).  What lives on is frozen by whoever keeps
it; the GC is left as it was found (off stays off).
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def gc_held_off(hold: bool = True) -> Iterator[None]:
    """No cyclic collection inside the block (``hold`` False: nothing changes)."""
    was = hold and gc.isenabled()
    if was:
        gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
