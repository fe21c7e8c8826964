from parley.kit.migrations import run_env
from parley.sender.models import metadata

run_env(metadata)
