"""CITA-Cloud v6.7.4: its accounts and the key material of its nodes."""
