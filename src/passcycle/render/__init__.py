"""The shapes passcycle shows, apart from where it shows them: the JSON of docs/json.md,
used by the command line, the reports and the dashboard alike."""
