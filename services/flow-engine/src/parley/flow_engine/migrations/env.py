from parley.flow_engine.models import metadata
from parley.kit.migrations import run_env

run_env(metadata)
