"""organism: a small service of sessions and model orchestration, for passcycle to judge."""

__version__ = "0.1.0"
