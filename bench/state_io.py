"""Benchmark: save and load 10^6 links (every baseline filled, realistic ids) on SQLite and PostgreSQL.

Prints the time to save and to load and the peak memory per backend, then one summary line:
``state_io: sqlite save <s> s load <s> s; postgresql save <s> s load <s> s``.
Each backend runs in its own process so its peak RSS is its own. PostgreSQL is read from
``CALSYNC_BENCH_PG_URL`` (default the local server); the benchmark creates and drops its own
database, and is skipped with the reason when no server answers. Not part of pytest.

    .venv/bin/python bench/state_io.py [--links 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

PG_URL = os.environ.get("CALSYNC_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def make_links(n: int, profiles: int = 4, mailboxes: int = 1_000) -> pd.DataFrame:
    """n links with every hash baseline filled, Salesforce/Graph-shaped ids, attendees on meetings."""
    from calsync.schema import LINK_COLUMNS, STR_LIST, conform
    from calsync.state.models import LINK_HASH_COLUMNS

    rng = np.random.default_rng(7)
    ids = np.arange(1, n + 1, dtype="int64")
    starts = pd.Timestamp("2026-03-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 86_400 * 74, n), unit="s")
    is_meeting = ids % 4 == 0
    pair = ["alice@contoso.example", "bob@fabrikam.example"]
    attendees = pd.Series([pair if m else [] for m in is_meeting], dtype=STR_LIST)
    df = pd.DataFrame({
        "link_id": ids,
        "profile_id": np.array([f"profile-{i}" for i in range(profiles)], dtype=object)[ids % profiles],
        "record_id": [f"00U5g{i:013X}" for i in ids],
        "mailbox": np.array([f"user{i:04d}@contoso.example" for i in range(mailboxes)], dtype=object)[
            ids % mailboxes],
        "item_id": [f"AAMkAGI2TG93AGEwLTgyNTItNDk3MS1hZDk0LWQ1YzA2YTNmZTNkMwBGAAAAAAD{i:016X}AAA="
                    for i in ids],
        "origin": np.where(ids % 3 == 0, "mailbox", "salesforce"),
        "ical_uid": [f"040000008200E00074C5B7101A82E00800000000{i:032X}" for i in ids],
        **{c: rng.integers(-(2**63), 2**63 - 1, size=n, dtype="int64") for c in LINK_HASH_COLUMNS},
        "base_start_utc": starts,
        "base_end_utc": starts + pd.Timedelta(minutes=30),
        "base_sf_attendees_set": attendees,
        "base_mb_attendees_set": attendees,
        "preserve": '{"WhatId":"0065g00000AbCdEAAV","WhoId":"0035g00000XyZaBAAV"}',
        "is_organizer": is_meeting,
        "is_meeting": is_meeting,
        "by_backfill": False,
        "in_window": True,
        "dirty": ids % 100 == 0,
        "sf_modstamp": starts - pd.Timedelta(days=1),
        "mb_change_key": [f"CQAAABYAAADn{i:010d}" for i in ids],
    })
    return conform(df, LINK_COLUMNS)[list(LINK_COLUMNS)]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_backend(backend: str, n: int) -> dict[str, object]:
    """Child process: one backend, one fresh database, save then load."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from calsync.state import StateStore
    from calsync.state.engine import normalise_url

    admin = None
    name = None
    if backend == "sqlite":
        tmp = tempfile.mkdtemp(prefix="calsync-bench-")
        url = f"sqlite:///{Path(tmp) / 'state.db'}"
    else:
        admin_url = normalise_url(PG_URL)
        try:
            admin = create_engine(admin_url, isolation_level="AUTOCOMMIT",
                                  connect_args={"connect_timeout": 3})
            with admin.connect() as conn:
                conn.execute(text("select 1"))
        except Exception as exc:  # unreachable server: reported, not fatal
            return {"backend": backend, "skipped": f"PostgreSQL not reachable at {PG_URL}: {exc}"}
        name = f"calsync_bench_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        df = make_links(n)
        store = StateStore(url)
        store.migrate()
        base_mb = _peak_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        store.save_links(df)
        save_s, save_cpu = time.perf_counter() - t0, time.process_time() - c0
        save_peak = _peak_mb()
        del df
        t0, c0 = time.perf_counter(), time.process_time()
        back = store.load_links()
        load_s, load_cpu = time.perf_counter() - t0, time.process_time() - c0
        assert len(back) == n, f"loaded {len(back)} of {n}"
        t0 = time.perf_counter()
        one = store.load_links("profile-1")
        load_one_s = time.perf_counter() - t0
        store.dispose()
        return {"backend": backend, "save_s": save_s, "load_s": load_s, "save_cpu": save_cpu,
                "load_cpu": load_cpu, "load_profile_s": load_one_s,
                "profile_rows": len(one), "peak_mb_before": base_mb, "peak_mb_after_save": save_peak,
                "peak_mb": _peak_mb()}
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--links", type=int, default=1_000_000)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.backend:
        print(json.dumps(run_backend(args.backend, args.links)))
        return
    # Wall times depend on what else runs: the load average puts them in context.
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    summary: list[str] = []
    for backend in ("sqlite", "postgresql"):
        proc = subprocess.run([sys.executable, __file__, "--backend", backend, "--links", str(args.links)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            raise SystemExit(f"state_io: {backend} failed")
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        if "skipped" in res:
            print(f"{backend}: SKIPPED ({res['skipped']})")
            summary.append(f"{backend} skipped")
            continue
        print(f"{backend}: {args.links:,} links  "
              f"save {res['save_s']:.2f} s (client CPU {res['save_cpu']:.1f} s)  "
              f"load {res['load_s']:.2f} s (client CPU {res['load_cpu']:.1f} s)  "
              f"(one profile of {res['profile_rows']:,}: {res['load_profile_s']:.2f} s)  "
              f"peak RSS {res['peak_mb']:.0f} MB (frame built: {res['peak_mb_before']:.0f} MB)")
        summary.append(f"{backend} save {res['save_s']:.2f} s load {res['load_s']:.2f} s")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("state_io: " + "; ".join(summary))


if __name__ == "__main__":
    main()
