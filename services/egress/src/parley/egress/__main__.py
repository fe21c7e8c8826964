from parley.kit.cli import run
from parley.egress.main import build

run(build)
