"""CITA-Cloud v6.7.4: one config.toml per node, accounts as plain key files, zenoh TLS, five services."""
