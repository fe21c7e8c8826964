"""Crash points kill the process where armed, and never in production."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from parley.kit.faults import crash_point

PROGRAM = """
from parley.kit.faults import crash_point
for n in range(1, 4):
    crash_point("unit.point")
    print(f"passed {n}", flush=True)
"""


def _run(**env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("PARLEY_ENV", "PARLEY_FAULTS")}
    return subprocess.run([sys.executable, "-c", PROGRAM], env={**environ, **env}, capture_output=True,
                          text=True, timeout=60, check=False)


def test_armed_point_kills_the_process_on_the_nth_pass() -> None:
    result = _run(PARLEY_ENV="development", PARLEY_FAULTS="other.point@1,unit.point@2")

    assert result.returncode == 137
    assert result.stdout.split("\n")[:-1] == ["passed 1"]


def test_armed_point_is_ignored_in_production() -> None:
    result = _run(PARLEY_ENV="production", PARLEY_FAULTS="unit.point@1")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["passed", "1", "passed", "2", "passed", "3"]


def test_crash_point_in_production_returns_in_this_very_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_ENV", "production")
    monkeypatch.setenv("PARLEY_FAULTS", "unit.inprocess@1")

    for _ in range(3):
        crash_point("unit.inprocess")  # would end the test run with exit 137 if it fired


def test_unarmed_points_do_nothing() -> None:
    result = _run(PARLEY_ENV="development", PARLEY_FAULTS="")

    assert result.returncode == 0, result.stderr
