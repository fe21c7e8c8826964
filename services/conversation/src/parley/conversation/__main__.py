from parley.kit.cli import run
from parley.conversation.main import build

run(build)
