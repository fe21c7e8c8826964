"""Parley embedded development and test stack."""
