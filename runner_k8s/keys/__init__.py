"""Key material: accounts and their addresses, kms.db, many nodes' keys at once, syncthing identities, signatures."""
