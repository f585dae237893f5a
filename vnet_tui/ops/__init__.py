"""Changes to adapters as transactions: validate → snapshot → apply → verify → journal.

The entry points are in ``vnet_tui.ops.api`` (``add``, ``edit``, ``delete``
and their ``plan_*`` previews); the CLI verbs and the TUI forms both call
them.  Nothing here imports Textual.
"""
