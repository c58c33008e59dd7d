"""What a run tells its user: the --json report, the summary and the next steps."""
