"""The Textual face of vnet-tui: panes, detail view, help, palette (see app.py).

Textual paints a screen at most ``TEXTUAL_FPS`` times a second (60 by
default), on a timer that starts when something changes.  A key press
that moves the cursor and then the detail pane needs two of those
frames, ~33 ms at 60; at 120 the same takes ~17 ms (bench/: key p95
45 → 32 ms at 1,000 containers).  Painting only happens when something
changed, so an idle or streaming TUI costs the same.  Set before Textual
is imported; an operator's own TEXTUAL_FPS wins.
"""

import os

os.environ.setdefault("TEXTUAL_FPS", "120")
