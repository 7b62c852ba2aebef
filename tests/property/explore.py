"""Longer planner-vs-model runs than CI's: `python tests/property/explore.py HISTORIES SEED`.

Runs PlannerVsModel with HISTORIES random histories of up to 30 steps from SEED (no example
database) and prints OK, or the failing history with both plans' extra keys and a reproduce blob.
Not collected by pytest (its name does not start with test_).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import hypothesis
import test_planner_matches_model as t
from hypothesis import HealthCheck, settings


def main(histories: int, seed: int) -> None:
    case = t.PlannerVsModel.TestCase
    case.settings = settings(max_examples=histories, stateful_step_count=30, deadline=None, database=None,
                             print_blob=True, suppress_health_check=list(HealthCheck))
    # run_state_machine_as_test reads the seed from the state machine class, not from runTest.
    hypothesis.seed(seed)(t.PlannerVsModel)
    case("runTest").runTest()
    print("OK")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
