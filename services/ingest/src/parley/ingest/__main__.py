from parley.ingest.commands import replay
from parley.ingest.hooks.commands import rewrap_keys
from parley.ingest.main import build
from parley.kit.cli import run

run(build, commands={"replay": replay, "rewrap-keys": rewrap_keys})
