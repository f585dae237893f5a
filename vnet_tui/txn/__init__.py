"""Transactions: a plan run as one change, and the ways back from it.

guard (privilege, SSH session) → server lock → settle what died before →
validate again → journal ahead → arm the revert timer → execute → complete
the journal (``api``, ``transaction``); ``undo``, the revert timer
(``confirm``, ``revert``), recovery of interrupted changes (``recover``)
and the unplug finisher (``finisher``).  Above ``ops`` (plans and their
inverses) and ``safety`` (journal file, locks, SSH guard, detached
processes); below the faces (``commands``, ``ui``).  Nothing here imports
Textual.
"""
