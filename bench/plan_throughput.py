"""Planner throughput: plan() over staged Parquet for 10^4, 10^5 and 10^6 links (DESIGN "Performance").

For each size the inputs are generated once and staged as Parquet (hash columns + realistic string ids:
links with their per-side baselines, a Salesforce frame and a mailbox frame, full reconcile, 1% of
rows changed on each side, a few confirmed deletes), plus a values file per side read only for the
rows that need a write (DESIGN step 5). Each measurement runs in its own subprocess so peak memory
(ru_maxrss) is per size, and the time includes reading the Parquet.

The reference is a straightforward per-record planner: a plain Python loop over the same inputs with
the same per-field triage (own hash vs own baseline, common hash across sides). It runs on 10^5 links
and is extrapolated linearly to 10^6 (it is linear: one dict lookup and eight comparisons per link);
``--reference-full`` runs it on 10^6 too.

    python bench/plan_throughput.py [--sizes 10000,100000,1000000] [--reference-full]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

FIELDS = ("subject", "body", "location", "when", "show_as", "reminder", "sensitivity", "attendees")
MAILBOXES = 1000
CHANGED = 0.01
DELETED = 0.0002
REF = pd.Timestamp("2026-03-02 12:00", tz="UTC")
# The value store's documents (written by `stage`): times stay ISO 8601 text, as json.loads gives them.
VALUE_SCHEMA = pa.schema(
    [
        ("subject", pa.string()),
        ("location", pa.string()),
        ("body", pa.string()),
        ("body_type", pa.string()),
        ("start_utc", pa.string()),
        ("end_utc", pa.string()),
        ("is_all_day", pa.bool_()),
        ("show_as", pa.string()),
        ("reminder_minutes", pa.int64()),
        ("sensitivity", pa.string()),
        ("is_private", pa.bool_()),
    ]
)


def bench_profile() -> SimpleNamespace:
    """The attributes plan() reads (docs/contracts/profile.md), defaults of a two_way event profile."""
    return SimpleNamespace(
        id="events",
        kind="event",
        direction="two_way",
        conflict_winner="newest",
        clock_skew_seconds=60,
        salesforce_deletion="delete_appointments",
        downsync=True,
        window=SimpleNamespace(past_days=14, future_days=60),
        on_leave_window="keep",
        private_items="skip",
        categories=SimpleNamespace(opt_in="Salesforce", unsync="Salesforce Unsync", object_category=None),
        item_category="Salesforce",
        mailboxes=SimpleNamespace(mode="owner", fixed=[]),
        preserve_fields=["WhoId", "WhatId"],
        max_delete_fraction=0.2,
        min_delete_guard=10,
        synced_fields=FIELDS,
        upsync_fields=FIELDS,
    )


# --- staging ---------------------------------------------------------------------------------------


def _key_hash(ids: np.ndarray) -> np.ndarray:
    return pd.util.hash_array(ids.astype(object), categorize=False).view("int64")


def _write(df: pd.DataFrame, path: Path) -> None:
    """Low-cardinality text (mailbox, presence, origin, profile) as dictionaries, read back as
    categoricals; no compression: random 64-bit hashes do not compress, and decompressing the ids costs
    time and buffers the Arrow pool keeps (measured: about 100 MB more peak)."""
    for col in ("profile_id", "mailbox", "origin", "presence"):
        if col in df.columns:
            df[col] = df[col].astype("category")
    table = pa.Table.from_pandas(df, preserve_index=False)
    hashes = [c for c in df.columns if c.startswith(("h_", "x_", "base_", "k_"))]
    pq.write_table(
        table,
        path,
        compression="none",
        use_dictionary=[c for c in df.columns if c not in hashes and c not in ("record_id", "item_id")],
    )


def stage(n: int, root: Path) -> None:
    rng = np.random.default_rng(n)
    record_ids = np.array([f"00U5f{i:013d}AAB" for i in range(n)], dtype=object)
    item_ids = np.array([f"AAMkAGI2TG93AAA{i:024d}AAEQ==" for i in range(n)], dtype=object)
    mailbox_names = np.array([f"user{j:04d}@contoso.example" for j in range(MAILBOXES)], dtype=object)
    mailbox = mailbox_names[rng.integers(0, MAILBOXES, n)]
    k_record, k_item = _key_hash(record_ids), _key_hash(item_ids)
    base = {f: rng.integers(-(2**62), 2**62, n, dtype=np.int64) for f in FIELDS}
    base_mb = {f: rng.integers(-(2**62), 2**62, n, dtype=np.int64) for f in FIELDS}
    common = {f: rng.integers(-(2**62), 2**62, n, dtype=np.int64) for f in FIELDS}

    links = {
        "link_id": np.arange(1, n + 1, dtype=np.int64),
        "profile_id": "events",
        "record_id": record_ids,
        "mailbox": mailbox,
        "item_id": item_ids,
        "origin": np.where(rng.random(n) < 0.7, "salesforce", "mailbox"),
        "k_record": k_record,
        "k_item": k_item,
        "is_meeting": rng.random(n) < 0.3,
        "in_window": True,
        "by_backfill": False,
        "dirty": False,
    }
    for f in FIELDS:
        links[f"base_sf_{f}"] = base[f]
        links[f"base_mb_{f}"] = base_mb[f]
    _write(pd.DataFrame(links), root / "links.parquet")

    for side, ids, key, own in (("sf", record_ids, k_record, base), ("mb", item_ids, k_item, base_mb)):
        changed = rng.random(n) < CHANGED
        # Attendee changes are left out: they go through the per-record set merge (R-P2), which needs
        # the attendee values, so an attendee hash change alone is not a write for plan().
        which = rng.integers(0, len(FIELDS) - 1, n)
        frame = {
            "record_id" if side == "sf" else "item_id": ids,
            "k_record" if side == "sf" else "k_item": key,
            "presence": np.where(rng.random(n) < DELETED, "deleted", "present"),
            "mailbox": mailbox,
        }
        for j, f in enumerate(FIELDS):
            hit = changed & (which == j)
            frame[f"h_{f}"] = np.where(hit, own[f] ^ 0x5F5F, own[f])
            frame[f"x_{f}"] = np.where(hit, common[f] ^ (0x33 if side == "sf" else 0x77), common[f])
        frame["last_modified"] = pd.Series(REF - pd.to_timedelta(rng.integers(0, 86400, n), unit="s")).array
        _write(pd.DataFrame(frame), root / f"{side}.parquet")
        body = "Agenda: " + "x" * 180
        start, end = (
            (REF + pd.Timedelta(days=3)).isoformat(),
            (REF + pd.Timedelta(days=3, hours=1)).isoformat(),
        )
        docs = [
            json.dumps(
                {
                    "subject": f"Meeting {i}",
                    "location": "Room 1",
                    "body": body,
                    "body_type": "text",
                    "start_utc": start,
                    "end_utc": end,
                    "is_all_day": False,
                    "show_as": "busy",
                    "reminder_minutes": 15,
                    "sensitivity": "normal",
                    "is_private": False,
                }
            )
            for i in range(n)
        ]
        encoded = [d.encode() for d in docs]
        np.save(
            root / f"{side}_values.offsets.npy",
            np.concatenate([[0], np.cumsum([len(d) for d in encoded])]).astype(np.int64),
        )
        (root / f"{side}_values.jsonl").write_bytes(b"".join(encoded))


# --- measuring (each in its own process) ------------------------------------------------------------


def value_reader(root: Path):
    """The stand-in for "read the full values of these rows by id" (DESIGN step 5): a row-major store
    (one JSON document per row, row-aligned with the hash file, with an offsets array), two preads
    per row (its offsets, its document). A Parquet `in` filter over 10^4 ids costs about 2 s, and any
    memory-mapped layout pulls most of the file into the process's resident set through page faults
    and read-ahead (measured +300 MB), where pread leaves it in the page cache."""

    def read(side: str, positions: np.ndarray, ids: list[str]) -> pd.DataFrame:
        prefix = root / ("sf_values" if side == "salesforce" else "mb_values")
        # The row's start and end offsets by pread too: a memory-mapped offsets array puts every page
        # the positions touch into this process's resident set (measured: 8 MB per side at 10^6).
        with open(f"{prefix}.offsets.npy", "rb") as f:
            np.lib.format.read_magic(f)
            np.lib.format.read_array_header_1_0(f)
            data_start = f.tell()
        fd_off = os.open(f"{prefix}.offsets.npy", os.O_RDONLY)
        fd = os.open(f"{prefix}.jsonl", os.O_RDONLY)
        try:
            docs = []
            for p in positions.tolist():
                start, end = struct.unpack("<qq", os.pread(fd_off, 16, data_start + 8 * p))
                docs.append(os.pread(fd, end - start, start))
        finally:
            os.close(fd)
            os.close(fd_off)
        if not docs:
            return pd.DataFrame()
        # One columnar parse of the fetched documents (json.dumps never writes a raw newline inside one),
        # typed by the store's schema: 20,000 json.loads and a frame from dicts took 0.25 s, this 0.02 s.
        size = sum(map(len, docs)) + len(docs)
        data = b"\n".join(docs)
        del docs
        table = pa_json.read_json(
            io.BytesIO(data),
            read_options=pa_json.ReadOptions(use_threads=False, block_size=max(1 << 20, size)),
            parse_options=pa_json.ParseOptions(
                explicit_schema=VALUE_SCHEMA, unexpected_field_behavior="infer"
            ),
        )
        return table.to_pandas()

    return read


def peak_mb() -> float:
    """This process's peak resident memory. VmHWM, because Linux carries ru_maxrss across fork+exec
    (a child started by a big parent reports the parent's peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read(path: Path) -> pd.DataFrame:
    # self_destruct frees each Arrow column as it becomes a pandas one: peak memory is one copy.
    # pre_buffer=False streams the column chunks instead of holding each whole file in memory first.
    table = pq.read_table(path, pre_buffer=False, buffer_size=1 << 20)
    # Text columns as one chunk, in the large_string pandas keeps them in anyway: pandas' take on a
    # chunked Arrow string column concatenates it first (measured: 40 MB and 0.1-0.15 s per million-row
    # id column, each time a few rows are taken). ParquetFile.read gives one chunk too, for 40 MB more.
    for i, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            table = table.set_column(i, field, table.column(i).cast(pa.large_string()).combine_chunks())
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    del table
    pa.default_memory_pool().release_unused()  # hand the decode buffers back before the next file
    return frame


def measure_plan(root: Path) -> dict[str, float]:
    from calsync.plan import PlanInput, plan

    t0 = time.perf_counter()
    links, sf, mb = (read(root / f"{name}.parquet") for name in ("links", "sf", "mb"))
    result = plan(
        PlanInput(
            profile=bench_profile(),
            sf=sf,
            mb=mb,
            links=links,
            reference_time=REF,
            full=True,
            read_values=value_reader(root),
        )
    )
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "peak_mb": peak_mb(), "actions": len(result.actions), "links": len(links)}


def reference_plan(links: pd.DataFrame, sf: pd.DataFrame, mb: pd.DataFrame) -> list[tuple]:
    """A straightforward planner: one link at a time, the same per-field triage as plan()'s two_way."""
    sf_rows = {r["record_id"]: r for r in sf.to_dict("records")}
    mb_rows = {r["item_id"]: r for r in mb.to_dict("records")}
    actions: list[tuple] = []
    for link in links.to_dict("records"):
        s, m = sf_rows.get(link["record_id"]), mb_rows.get(link["item_id"])
        if s is None or m is None:
            continue
        if s["presence"] == "deleted" or m["presence"] == "deleted":
            actions.append((link["link_id"], "delete"))
            continue
        for f in FIELDS:
            cs = s[f"h_{f}"] != link[f"base_sf_{f}"]
            cm = m[f"h_{f}"] != link[f"base_mb_{f}"]
            differ = s[f"x_{f}"] != m[f"x_{f}"]
            if differ and cs and not cm:
                actions.append((link["link_id"], "update_mb", f))
            elif differ and cm and not cs:
                actions.append((link["link_id"], "update_sf", f))
            elif differ and cs and cm:
                newer = s["last_modified"] > m["last_modified"] + pd.Timedelta(seconds=60)
                actions.append((link["link_id"], "update_mb" if newer else "update_sf", f))
    return actions


def measure_reference(root: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    links = pd.read_parquet(root / "links.parquet")
    sf = pd.read_parquet(root / "sf.parquet")
    mb = pd.read_parquet(root / "mb.parquet")
    actions = reference_plan(links, sf, mb)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "peak_mb": peak_mb(), "actions": len(actions), "links": len(links)}


def run_child(kind: str, root: Path) -> dict[str, float]:
    """Staging and each measurement run in their own process (peak memory per size, a small parent)."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(root)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--reference-full", action="store_true", help="also run the reference on 10^6")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, root = args.child
        if kind.startswith("stage="):
            stage(int(kind.split("=")[1]), Path(root))
            print("{}")
            return
        result = measure_plan(Path(root)) if kind == "plan" else measure_reference(Path(root))
        print(json.dumps(result))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    ref_per_link: float | None = None
    ref_note = ""
    last: tuple[int, float, float, float] | None = None
    with tempfile.TemporaryDirectory(prefix="calsync-bench-") as tmp:
        for n in sizes:
            root = Path(tmp) / str(n)
            root.mkdir()
            run_child(f"stage={n}", root)
            r = run_child("plan", root)
            print(
                f"plan {n:>9,} links: {r['seconds']:.2f} s, {n / r['seconds']:,.0f} records/s, "
                f"peak {r['peak_mb']:.0f} MB, {r['actions']:,} actions"
            )
            if n == 100_000 or (args.reference_full and n == 1_000_000):
                ref = run_child("reference", root)
                ref_per_link = ref["seconds"] / n
                ref_note = f"measured on {n:,}" + ("" if n == sizes[-1] else ", extrapolated linearly")
                print(
                    f"reference {n:>9,} links: {ref['seconds']:.2f} s, {n / ref['seconds']:,.0f} records/s, "
                    f"peak {ref['peak_mb']:.0f} MB ({ref['actions']:,} field decisions)"
                )
            last = (n, r["seconds"], r["peak_mb"], 0.0)
            for p in root.iterdir():
                os.remove(p)
    assert last is not None
    n, seconds, peak, _ = last
    ratio = (ref_per_link * n / seconds) if ref_per_link else float("nan")
    if ref_per_link:
        print(f"reference at {n:,} links: {ref_per_link * n:.1f} s ({ref_note})")
    print(f"plan_throughput: {n} links in {seconds:.2f} s, {ratio:.0f}x the reference, peak {peak:.0f} MB")


if __name__ == "__main__":
    main()
