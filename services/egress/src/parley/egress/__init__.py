"""Parley egress service."""
