from parley.egress.main import build
from parley.kit.cli import run

run(build)
