from parley.egress.models import metadata
from parley.kit.migrations import run_env

run_env(metadata)
