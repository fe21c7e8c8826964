from parley.kit.migrations import run_env
from parley.egress.models import metadata

run_env(metadata)
