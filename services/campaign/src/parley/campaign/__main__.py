from parley.kit.cli import run
from parley.campaign.main import build

run(build)
