"""`python -m passcycle`."""

import sys

from passcycle.cli import main

sys.exit(main())
