from parley.kit.cli import run
from parley.ingest.main import build

run(build)
