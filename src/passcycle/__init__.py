"""passcycle: Test -> Validate -> Fix -> Test -> Pass, as one command with one history."""

__version__ = "0.1.0"
