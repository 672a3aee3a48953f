"""Eval runs: the item executor (render → complete → grade → store each item once) and the
run summary (counts, usage, per-criterion results, statistics)."""
