"""Parley conversation service."""
