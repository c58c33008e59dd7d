"""Day 0: validated inputs and the verbs that write a chain, its claims and its pre-made identities."""
