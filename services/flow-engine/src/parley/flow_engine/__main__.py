from parley.kit.cli import run
from parley.flow_engine.main import build

run(build)
