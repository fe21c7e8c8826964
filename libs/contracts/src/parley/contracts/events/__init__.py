"""Typed payloads, one module per topic family."""
