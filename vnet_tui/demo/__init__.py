"""The demo: lab traffic that makes the counters move (see traffic.py)."""
