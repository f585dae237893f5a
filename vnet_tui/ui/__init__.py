"""The Textual face of vnet-tui: panes, detail view, help, palette (see app.py)."""
