"""Growing and shrinking a chain: its files read back, re-planned and the operator's plan."""
