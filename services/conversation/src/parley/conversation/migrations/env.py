from parley.kit.migrations import run_env
from parley.conversation.models import metadata

run_env(metadata)
