from parley.gateway.commands import reactivate, seed_demo, set_plan, suspend
from parley.gateway.main import build
from parley.kit.cli import run

run(build, commands={"seed-demo": seed_demo, "suspend": suspend, "reactivate": reactivate,
                      "set-plan": set_plan})
