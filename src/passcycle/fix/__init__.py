"""The Fix step: what changed, which tests it affects, and what to do next."""
