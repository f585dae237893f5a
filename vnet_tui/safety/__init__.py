"""Keeping the operator's session and the server safe: journal, undo, SSH guard, commit-confirmed."""
