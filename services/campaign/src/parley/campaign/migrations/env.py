from parley.kit.migrations import run_env
from parley.campaign.models import metadata

run_env(metadata)
