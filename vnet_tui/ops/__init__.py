"""Changes to adapters as plans: validate → snapshot → apply → verify, and each plan's inverse.

``vnet_tui.ops.planner`` makes the plans (``plan_add``, ``plan_edit``,
``plan_delete``; pure: no kernel call), ``vnet_tui.ops.inverse`` the plan
that reverts a journaled change.  Running them as transactions (guard,
lock, journal, revert timer) is ``vnet_tui.txn.api``'s job; the CLI verbs
and the TUI forms call that.  Nothing here imports Textual.
"""
