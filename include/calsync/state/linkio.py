"""The links table as frames: set-based load and save on SQLite and PostgreSQL (STYLE C3).

No ORM object and no round trip per link: a load is one SELECT (PostgreSQL: one ``COPY ... TO
STDOUT``, parsed by Arrow's CSV reader), a save is one batched ``executemany`` upsert (PostgreSQL,
large sets: ``COPY`` into a temporary table, then one ``INSERT ... ON CONFLICT``). Frames conform to
``schema.LINK_COLUMNS``; the storage form of each column kind is in ``models``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
from sqlalchemy import Connection

from calsync.errors import CalsyncError
from calsync.schema import LINK_COLUMNS, STR_LIST, conform, empty
from calsync.state.models import (
    LINK_BOOL_COLUMNS,
    LINK_HASH_COLUMNS,
    LINK_LIST_COLUMNS,
    LINK_TIME_COLUMNS,
    links,
)

DB_COLUMNS: tuple[str, ...] = tuple(c.name for c in links.columns)
_INT_COLUMNS = frozenset(("link_id", *LINK_HASH_COLUMNS, *LINK_TIME_COLUMNS))
_BOOL_COLUMNS = frozenset(LINK_BOOL_COLUMNS)
_LIST_COLUMNS = frozenset(LINK_LIST_COLUMNS)
COPY_THRESHOLD = 2_000  # PostgreSQL: from this many rows COPY beats executemany
FETCH_CHUNK = 50_000


class LinkConflict(CalsyncError):
    """A save would give a record a second link in a mailbox, or an item a second link (R-O1)."""


def _arrow_type(name: str) -> pa.DataType:
    if name in _INT_COLUMNS:
        return pa.int64()
    if name in _BOOL_COLUMNS:
        return pa.bool_()
    return pa.string()  # text, and list columns as JSON text


DB_SCHEMA = pa.schema([pa.field(n, _arrow_type(n)) for n in DB_COLUMNS])


# --- frame <-> storage form -----------------------------------------------------------------------


_NEEDS_JSON_ESCAPE = r"[\x00-\x1f]"  # control characters: JSON wants \uXXXX, left to json.dumps


def _list_to_json(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """list<string> -> compact JSON text, vectorised: quote and escape the values, join each list."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if len(arr) == 0:
        return pa.array([], type=pa.string())
    items = arr.values
    if pc.any(pc.match_substring_regex(items, _NEEDS_JSON_ESCAPE)).as_py():
        # Rare (addresses have no control characters): the exact but slow way.
        return pa.array([None if v is None else json.dumps(v, separators=(",", ":"))
                         for v in arr.to_pylist()], type=pa.string())
    escaped = pc.replace_substring(pc.replace_substring(items, "\\", "\\\\"), '"', '\\"')
    quoted = pc.binary_join_element_wise('"', escaped, '"', "")
    rebuilt = pa.ListArray.from_arrays(arr.offsets, quoted, mask=arr.is_null())
    return pc.binary_join_element_wise("[", pc.binary_join(rebuilt, ","), "]", "")


def _json_to_list(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """JSON text -> list<string>, parsed by Arrow's JSON reader (no Python object per row)."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if len(arr) == 0:
        return pa.array([], type=pa.list_(pa.string()))
    if pc.all(pc.or_kleene(pc.is_null(arr), pc.equal(arr, "[]"))).as_py():
        # Most links have no attendees: no parse at all.
        empty_lists = pa.ListArray.from_arrays(pa.array(np.zeros(len(arr) + 1, dtype="int32")),
                                               pa.array([], type=pa.string()), mask=arr.is_null())
        return empty_lists
    lines = pc.binary_join_element_wise('{"v":', pc.fill_null(arr, "null"), "}", "")
    doc = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(lines)], type=pa.int32()), lines), "\n")
    parsed = pajson.read_json(
        io.BytesIO(doc[0].as_buffer().to_pybytes()),
        read_options=pajson.ReadOptions(block_size=1 << 24, use_threads=True),
        parse_options=pajson.ParseOptions(explicit_schema=pa.schema([("v", pa.list_(pa.string()))])),
    )
    return parsed.column("v").combine_chunks()


def frame_to_table(df: pd.DataFrame) -> pa.Table:
    """A links frame (any column subset, extra columns ignored) as an Arrow table in DB column order."""
    df = conform(df[[c for c in df.columns if c in LINK_COLUMNS]], LINK_COLUMNS)
    arrays: list[pa.Array] = []
    for name in DB_COLUMNS:
        arr = pa.array(df[name], from_pandas=True)
        if name in LINK_TIME_COLUMNS:
            arr = arr.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        elif name in _LIST_COLUMNS:
            arr = _list_to_json(arr)
        else:
            arr = arr.cast(_arrow_type(name))
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=DB_SCHEMA)


def table_to_frame(tbl: pa.Table) -> pd.DataFrame:
    """The inverse of frame_to_table: every column with its LINK_COLUMNS dtype."""
    if tbl.num_rows == 0:
        return empty(LINK_COLUMNS)
    cols: dict[str, Any] = {}
    for name in DB_COLUMNS:
        arr = tbl.column(name)
        if name in LINK_TIME_COLUMNS:
            arr = arr.cast(pa.timestamp("us", tz="UTC"))
        elif name in _LIST_COLUMNS:
            cols[name] = pd.Series(pd.arrays.ArrowExtensionArray(_json_to_list(arr)), dtype=STR_LIST)
            continue
        cols[name] = arr.to_pandas(types_mapper=_pandas_type)
    out = pd.DataFrame(cols)
    return conform(out, LINK_COLUMNS)[list(LINK_COLUMNS)]


def _pandas_type(t: pa.DataType) -> Any:
    if t == pa.int64():
        return pd.Int64Dtype()
    if t == pa.bool_():
        return pd.BooleanDtype()
    if t == pa.string():
        return pd.StringDtype("pyarrow")
    return None


# --- raw DBAPI helpers ----------------------------------------------------------------------------


def _dbapi(conn: Connection) -> Any:
    """The driver connection inside SQLAlchemy's transaction: raw I/O joins the same transaction."""
    return conn.connection.driver_connection


def _pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _upsert_sql(table: str, columns: Sequence[str], placeholder: str, source: str | None = None) -> str:
    cols = ", ".join(columns)
    sets = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "link_id")
    marks = ", ".join([placeholder] * len(columns))
    values = f"SELECT {cols} FROM {source}" if source else f"VALUES ({marks})"
    return f"INSERT INTO {table} ({cols}) {values} ON CONFLICT (link_id) DO UPDATE SET {sets}"


def _pylist(col: pa.ChunkedArray) -> list[Any]:
    # numpy's tolist is the fastest way to Python ints for columns without nulls.
    if col.null_count == 0 and (pa.types.is_integer(col.type) or pa.types.is_boolean(col.type)):
        return col.to_numpy().tolist()
    return col.to_pylist()


def _rows(tbl: pa.Table, chunk: int = FETCH_CHUNK) -> Iterator[tuple[Any, ...]]:
    """Row tuples for executemany, made one slice at a time so that a million links never exist as
    Python objects all at once."""
    for start in range(0, tbl.num_rows, chunk):
        part = tbl.slice(start, chunk)
        yield from zip(*(_pylist(part.column(i)) for i in range(part.num_columns)), strict=True)


def _integrity_errors(conn: Connection) -> tuple[type[BaseException], ...]:
    return (conn.dialect.dbapi.IntegrityError,)  # type: ignore[union-attr]


def allocate_ids(conn: Connection, name: str, n: int, floor: int = 1) -> int:
    """Reserve n consecutive ids, none below ``floor``, and return the first.

    One atomic upsert on both dialects (the counter row is locked until commit), so concurrent
    sessions of different profiles never get the same ids.
    """
    ph = "%s" if _pg(conn) else "?"
    sql = (f"INSERT INTO id_counters (name, next_id) VALUES ({ph}, {ph}) ON CONFLICT (name) DO UPDATE SET "
           f"next_id = CASE WHEN id_counters.next_id < {ph} THEN {ph} ELSE id_counters.next_id END + {ph} "
           "RETURNING next_id")
    cur = _dbapi(conn).cursor()
    cur.execute(sql, (name, floor + n, floor, floor, n))
    (after,) = cur.fetchone()
    cur.close()
    return int(after) - n


def assign_link_ids(conn: Connection, df: pd.DataFrame) -> pd.DataFrame:
    """Give rows without a link_id (missing column, NA, or <= 0) fresh ids; others keep theirs."""
    out = df.copy()
    ids = pd.array(out["link_id"], dtype="Int64") if "link_id" in out else pd.array([pd.NA] * len(out),
                                                                                    dtype="Int64")
    need = np.asarray(pd.isna(ids) | (pd.Series(ids).fillna(0).to_numpy() <= 0))
    if need.any():
        new = np.asarray(pd.Series(ids).fillna(0).to_numpy(dtype="int64"))
        # Ids given explicitly (by a caller, or a restore) must never be handed out again.
        cur = _dbapi(conn).cursor()
        cur.execute("SELECT COALESCE(MAX(link_id), 0) FROM links")
        (db_max,) = cur.fetchone()
        cur.close()
        floor = max(int(db_max), int(new.max(initial=0))) + 1
        first = allocate_ids(conn, "links", int(need.sum()), floor)
        new[need] = np.arange(first, first + int(need.sum()), dtype="int64")
        out["link_id"] = new
    else:
        out["link_id"] = pd.Series(ids, index=out.index).astype("int64")
    return out


def _overlaps_existing(conn: Connection, tbl: pa.Table) -> bool:
    """Could any row update an existing link? New links get ids above every stored one, so a batch of
    new links is decided by one index probe of its id range."""
    bounds = pc.min_max(tbl.column("link_id"))
    lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
    ph = "%s" if _pg(conn) else "?"
    cur = _dbapi(conn).cursor()
    cur.execute(f"SELECT 1 FROM links WHERE link_id BETWEEN {ph} AND {ph} LIMIT 1", (lo, hi))
    found = cur.fetchone() is not None
    cur.close()
    return found


def upsert(conn: Connection, df: pd.DataFrame) -> int:
    """Insert or update links by link_id, set-based. Raises LinkConflict on an R-O1 violation."""
    if len(df) == 0:
        return 0
    tbl = frame_to_table(df)
    try:
        update = _overlaps_existing(conn, tbl)
        if _pg(conn) and tbl.num_rows >= COPY_THRESHOLD:
            _pg_copy(conn, tbl, update)
        else:
            ph = "%s" if _pg(conn) else "?"
            sql = _upsert_sql("links", DB_COLUMNS, ph)
            if not update:
                sql = sql[:sql.index(" ON CONFLICT")]
            cur = _dbapi(conn).cursor()
            cur.executemany(sql, _rows(tbl))
            cur.close()
    except _integrity_errors(conn) as exc:
        raise LinkConflict(f"links violate R-O1 (one link per record and mailbox, one per item) or "
                           f"repeat a link_id: {exc}") from exc
    return tbl.num_rows


def _pg_copy(conn: Connection, tbl: pa.Table, update: bool) -> None:
    """COPY the rows in: straight into links when all are new, else via a temporary table and one
    INSERT ... ON CONFLICT DO UPDATE."""
    buf = io.BytesIO()
    pacsv.write_csv(tbl, buf, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    cols = ", ".join(DB_COLUMNS)
    cur = _dbapi(conn).cursor()
    target = "links"
    if update:
        target = "_calsync_links_in"
        cur.execute("DROP TABLE IF EXISTS _calsync_links_in")
        cur.execute("CREATE TEMP TABLE _calsync_links_in (LIKE links INCLUDING DEFAULTS) ON COMMIT DROP")
    with cur.copy(f"COPY {target} ({cols}) FROM STDIN (FORMAT csv)") as copy:
        view = buf.getbuffer()
        for start in range(0, len(view), 1 << 22):
            copy.write(view[start:start + (1 << 22)])
        del view
    if update:
        cur.execute(_upsert_sql("links", DB_COLUMNS, "%s", source="_calsync_links_in"))
        cur.execute("DROP TABLE _calsync_links_in")
    cur.close()


def id_predicate(conn: Connection, column: str) -> str:
    """A WHERE fragment matching ``column`` against one parameter holding a whole id list."""
    if _pg(conn):
        return f"{column} = ANY(%s::bigint[])"
    return f"{column} IN (SELECT value FROM json_each(?))"


def id_param(conn: Connection, ids: Iterable[int]) -> Any:
    values = [int(i) for i in ids]
    return values if _pg(conn) else json.dumps(values)


def delete(conn: Connection, ids: Iterable[int]) -> int:
    ids = list(ids)
    if not ids:
        return 0
    cur = _dbapi(conn).cursor()
    cur.execute(f"DELETE FROM links WHERE {id_predicate(conn, 'link_id')}", (id_param(conn, ids),))
    n = cur.rowcount
    cur.close()
    return int(n)


def set_flag(conn: Connection, column: str, ids: Iterable[int], value: bool) -> int:
    if column not in _BOOL_COLUMNS:
        raise ValueError(f"not a link flag: {column}")
    ids = list(ids)
    if not ids:
        return 0
    ph = "%s" if _pg(conn) else "?"
    cur = _dbapi(conn).cursor()
    cur.execute(f"UPDATE links SET {column} = {ph} WHERE {id_predicate(conn, 'link_id')}",
                (value, id_param(conn, ids)))
    n = cur.rowcount
    cur.close()
    return int(n)


def set_flag_exactly(conn: Connection, column: str, profile_id: str, ids: Iterable[int]) -> None:
    """Set ``column`` true for these links of the profile and false for all its others (one UPDATE)."""
    if column not in _BOOL_COLUMNS:
        raise ValueError(f"not a link flag: {column}")
    ph = "%s" if _pg(conn) else "?"
    cur = _dbapi(conn).cursor()
    cur.execute(f"UPDATE links SET {column} = ({id_predicate(conn, 'link_id')}) WHERE profile_id = {ph}",
                (id_param(conn, ids), profile_id))
    cur.close()


# --- load -----------------------------------------------------------------------------------------


def load(conn: Connection, profile_id: str | None = None, *, dirty_only: bool = False) -> pd.DataFrame:
    """All links (of a profile), in link_id order, in one query."""
    where: list[str] = []
    params: list[Any] = []
    ph = "%s" if _pg(conn) else "?"
    if profile_id is not None:
        where.append(f"profile_id = {ph}")
        params.append(profile_id)
    if dirty_only:
        where.append("dirty")
    sql = f"SELECT {', '.join(DB_COLUMNS)} FROM links"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY link_id"
    tbl = _pg_copy_load(conn, sql, params) if _pg(conn) else _sqlite_load(conn, sql, params)
    return table_to_frame(tbl)


def _pg_copy_load(conn: Connection, sql: str, params: list[Any]) -> pa.Table:
    cur = _dbapi(conn).cursor()
    buf = io.BytesIO()
    with cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", params or None) as copy:
        for chunk in copy:
            buf.write(chunk)
    cur.close()
    if buf.tell() == 0:
        return DB_SCHEMA.empty_table()
    buf.seek(0)
    return pacsv.read_csv(
        buf,
        read_options=pacsv.ReadOptions(column_names=list(DB_COLUMNS), block_size=1 << 24),
        convert_options=pacsv.ConvertOptions(
            column_types=DB_SCHEMA,
            # PostgreSQL's CSV writes NULL as an unquoted empty field and '' as "".
            null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=False,
            true_values=["t"], false_values=["f"],
        ),
    )


def _sqlite_load(conn: Connection, sql: str, params: list[Any]) -> pa.Table:
    cur = _dbapi(conn).cursor()
    cur.execute(sql, params)
    batches: list[pa.RecordBatch] = []
    while rows := cur.fetchmany(FETCH_CHUNK):
        columns = list(zip(*rows, strict=True))
        arrays = [_sqlite_array(name, col) for name, col in zip(DB_COLUMNS, columns, strict=True)]
        batches.append(pa.RecordBatch.from_arrays(arrays, schema=DB_SCHEMA))
    cur.close()
    return pa.Table.from_batches(batches, schema=DB_SCHEMA)


def _sqlite_array(name: str, col: tuple[Any, ...]) -> pa.Array:
    if name in _BOOL_COLUMNS:  # SQLite keeps booleans as 0/1
        return pa.array(col, type=pa.int64()).cast(pa.bool_())
    return pa.array(col, type=DB_SCHEMA.field(name).type)
