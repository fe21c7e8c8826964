from parley.kit.cli import run
from parley.sender.commands import seed_demo
from parley.sender.main import build

run(build, commands={"seed-demo": seed_demo})
