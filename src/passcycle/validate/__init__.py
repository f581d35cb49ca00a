"""Validate: judge a run's records — fingerprints, issues, baselines, flakiness, KPIs, phases.

The modules here are pure functions over records: no I/O, no database. The cycle reads
the history, hands records in, and stores what comes back.
"""
