"""Parley sender service."""
