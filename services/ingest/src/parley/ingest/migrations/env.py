from parley.kit.migrations import run_env
from parley.ingest.models import metadata

run_env(metadata)
