"""The benchmark compares plan() with a per-record planner: both must decide the same writes on the
benchmark's inputs, or the speed-up would compare different work (R-D1 two_way field triage)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from calsync.plan import PlanInput, plan

BENCH = Path(__file__).resolve().parents[2] / "bench" / "plan_throughput.py"


def _bench() -> object:
    spec = importlib.util.spec_from_file_location("plan_throughput", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["plan_throughput"] = module
    spec.loader.exec_module(module)
    return module


def test_vectorised_and_per_record_planners_agree(tmp_path: Path) -> None:
    b: Any = _bench()
    b.stage(3000, tmp_path)
    links, sf, mb = (b.read(tmp_path / f"{n}.parquet") for n in ("links", "sf", "mb"))
    result = plan(PlanInput(profile=b.bench_profile(), sf=sf, mb=mb, links=links, reference_time=b.REF,
                            full=True, read_values=b.value_reader(tmp_path)))
    reference = b.reference_plan(links, sf, mb)

    ref_updates = {(lid, "mailbox" if op == "update_mb" else "salesforce") for lid, op, *_ in reference
                   if op.startswith("update")}
    ref_deletes = {lid for lid, op, *_ in reference if op == "delete"}
    a = result.for_apply()
    updates = a[a["operation"] == "update"]
    got_updates = set(zip(updates["link_id"].astype(int), updates["side"], strict=True))
    got_other = set(a.loc[a["operation"] != "update", "link_id"].astype(int))
    assert got_updates == ref_updates
    assert got_other == ref_deletes
    assert len(got_updates) > 20  # about 1% of each side changed
    first = json.loads(updates["fields"].iloc[0])
    assert first and not any(pd.isna(v) for v in first.values() if not isinstance(v, list))
