from parley.kit.cli import run
from parley.sender.main import build
from parley.sender.service import seed_demo

run(build, commands={"seed-demo": seed_demo})
