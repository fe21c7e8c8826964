"""Parley ingest service."""
