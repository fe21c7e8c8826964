"""Parley flow-engine service."""
