"""Generic inbound hooks: tenant-defined endpoints whose signed payloads become named business events."""
