"""passcycle's pytest plugin, a package the runner copies beside each run (entry.py)."""
