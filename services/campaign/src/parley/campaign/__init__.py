"""Parley campaign service."""
