from parley.gateway.commands import seed_demo
from parley.gateway.main import build
from parley.kit.cli import run

run(build, commands={"seed-demo": seed_demo})
