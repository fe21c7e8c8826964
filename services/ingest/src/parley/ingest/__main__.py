from parley.ingest.commands import replay
from parley.ingest.main import build
from parley.kit.cli import run

run(build, commands={"replay": replay})
