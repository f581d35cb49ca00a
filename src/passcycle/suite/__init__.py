"""The Test phase: run the suite, record every outcome and the per-test coverage map."""
