from parley.flow_engine.main import build
from parley.kit.cli import run

run(build)
