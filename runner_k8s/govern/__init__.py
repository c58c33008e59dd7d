"""Governing a running chain: transactions, the one network module, the checks and the verbs."""
