"""Alembic env of the kit tests' scratch service: the same run_env every service uses."""

from sqlalchemy import MetaData

from parley.kit.migrations import run_env

# The scratch schema differs per test, so no schema-bound metadata here (no autogenerate needed).
run_env(MetaData())
