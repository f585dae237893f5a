"""Safety services below the plans: the journal file, the server lock, the SSH guard, detached processes.

The transactions that use them (journal ahead, revert timers, undo,
recovery) are ``vnet_tui.txn``'s.
"""
