"""The one writer of a work dir: staging, the journal, the lock, durable syncs and stop signals."""
