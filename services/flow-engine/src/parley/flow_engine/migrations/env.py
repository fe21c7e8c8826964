from parley.kit.migrations import run_env
from parley.flow_engine.models import metadata

run_env(metadata)
