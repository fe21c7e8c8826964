from parley.kit.migrations import run_env
from parley.gateway.models import metadata

run_env(metadata)
