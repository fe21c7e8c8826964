"""Parley service kit: settings, database, event store, outbox, inbox, consumers, telemetry."""
