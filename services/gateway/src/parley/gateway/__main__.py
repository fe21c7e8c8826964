from parley.kit.cli import run
from parley.gateway.main import build

run(build)
