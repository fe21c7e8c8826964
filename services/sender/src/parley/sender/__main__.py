from parley.kit.cli import run
from parley.sender.main import build

run(build)
