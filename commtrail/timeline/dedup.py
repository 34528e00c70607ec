"""Non-destructive deduplication, party resolution and consistency checks, as SQL over staging.

The staging files are read by DuckDB (out of core, both cores). Each record gets a content key per
channel; ``event_id`` is the MD5 of that key and of the key's rank among identical keys within its
source, so the same message in two backups is one event while three identical texts sent in one
minute stay three. The master holds one row per ``event_id``: the copy from the source with the
smallest hash (a choice independent of ingest order) plus the list of every copy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from commtrail.case import CaseConfig
from commtrail.timeline.schema import MASTER_SCHEMA

SEP = "chr(31)"

# The content key of a record, per channel. Times are cut to the precision both copies share.
KEY_SQL = f"""
concat_ws({SEP},
  channel,
  kind,
  direction,
  CASE WHEN channel = 'whatsapp' THEN coalesce(sender, '') || {SEP} || coalesce(conversation, '')
       WHEN direction = 'incoming' THEN coalesce(sender, '')
       WHEN direction = 'outgoing' THEN coalesce(array_to_string(list_sort(recipients), '~'), '')
       ELSE coalesce(sender, '') || '>' || coalesce(array_to_string(list_sort(recipients), '~'), '') END,
  CASE WHEN channel = 'whatsapp' OR ts_precision = 'min' THEN epoch(date_trunc('minute', ts_utc))::BIGINT
       ELSE epoch(date_trunc('second', ts_utc))::BIGINT END::VARCHAR,
  CASE WHEN channel = 'call' THEN coalesce(duration_s::VARCHAR, '')
       WHEN channel = 'email' THEN coalesce(json_extract_string(extra, '$.message_id'), '') || {SEP} ||
            md5(concat_ws({SEP}, coalesce(sender, ''), coalesce(array_to_string(list_sort(recipients), '~'), ''),
                          coalesce(subject, ''), coalesce(body, '')))
       ELSE coalesce(body, '') || {SEP} ||
            coalesce(array_to_string(list_transform(attachments, lambda a: coalesce(a.sha256, a.name)), '~'), '')
  END
)"""

METHOD_SQL = """
CASE WHEN channel IN ('sms', 'mms') THEN 'counterpart+direction+second+text'
     WHEN channel = 'call' THEN 'number+kind+second+duration'
     WHEN channel = 'whatsapp' THEN 'author+chat+minute+text'
     WHEN channel = 'email' AND json_extract_string(extra, '$.message_id') IS NOT NULL THEN 'message-id+content'
     WHEN channel = 'email' THEN 'content'
     ELSE 'channel+who+second+text' END"""

# The master rows, in exhibit order (streamed out, never materialised).
MASTER_SQL = """
    SELECT b.* EXCLUDE (event_id, party, extra, _eid, _method, _row, occurrences),
           b._eid AS event_id, p.party AS party,
           CASE WHEN n._eid IS NULL THEN b.extra
                ELSE json_merge_patch(coalesce(b.extra, '{}'),
                                      json_object('near_duplicates', n.near))::VARCHAR END AS extra,
           b.occurrences, b._method AS dup_method,
           printf('CT-%06d', row_number() OVER w) AS exhibit,
           row_number() OVER w AS _order
    FROM base b LEFT JOIN near n USING (_eid) LEFT JOIN party_of p USING (_eid)
    WINDOW w AS (ORDER BY b.ts_utc, b.channel, b._eid)"""

# Formats whose later files repeat the earlier ones (full backups, re-exports of one chat).
OVERLAPPING_FORMATS = ("smsbr-sms", "smsbr-calls", "whatsapp")


@dataclass
class DedupSession:
    """A DuckDB connection holding the staged records, keyed; queries read from it."""

    con: duckdb.DuckDBPyConnection

    def master_batches(self, batch_rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        """The master rows in exhibit order, as record batches of MASTER_SCHEMA."""
        result = self.con.sql(f"SELECT {', '.join(MASTER_SCHEMA.names)} FROM ({MASTER_SQL}) ORDER BY _order")
        reader = arrow_reader(result, batch_rows)
        for batch in reader:
            arrays = [batch.column(i).cast(f.type) for i, f in enumerate(MASTER_SCHEMA)]
            yield pa.RecordBatch.from_arrays(arrays, schema=MASTER_SCHEMA)

    def possibly_deleted(self) -> pa.Table:
        """Events in an earlier source missing from a later overlapping one."""
        result = self.con.sql("SELECT * FROM possibly_deleted ORDER BY ts_utc, event_id, earlier_sha256, "
                              "later_sha256")
        return arrow_reader(result, 100_000).read_all()

    def close(self) -> None:
        self.con.close()


def arrow_reader(result: duckdb.DuckDBPyRelation, batch_rows: int) -> pa.RecordBatchReader:
    """A streaming Arrow reader over a query result (DuckDB 1.x and 2.x name it differently)."""
    method = getattr(result, "to_arrow_reader", None) or result.fetch_record_batch
    return method(batch_rows)


def connect(tmp_dir: Path, memory_limit: str = "3GB") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that never fetches extensions and spills to ``tmp_dir``."""
    tmp_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "threads": 2,
                                 "memory_limit": memory_limit, "temp_directory": str(tmp_dir),
                                 "preserve_insertion_order": False})
    con.execute("SET enable_progress_bar = false")
    con.execute("SET TimeZone = 'UTC'")
    return con


def run_dedup(files: Sequence[Path], sources: Sequence[dict], config: CaseConfig, tmp_dir: Path) -> DedupSession:
    """Load staging, derive event ids, build the master and the consistency table inside DuckDB."""
    con = connect(tmp_dir)
    con.execute("CREATE TEMP TABLE links (ident VARCHAR, party VARCHAR)")
    if config.links:
        con.executemany("INSERT INTO links VALUES (?, ?)", [(k, v.party) for k, v in sorted(config.links.items())])
    con.execute("CREATE TEMP TABLE src (sha256 VARCHAR, format VARCHAR, path VARCHAR)")
    if sources:
        con.executemany("INSERT INTO src VALUES (?, ?, ?)", [(s["sha256"], s["format"], s["path"]) for s in sources])
    if files:
        file_list = "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"
        source = f"(SELECT * EXCLUDE (file_row_number), file_row_number AS _row FROM read_parquet({file_list}, " \
                 "file_row_number = true))"
    else:
        _empty_staged(con)
        source = "staged"
    # Keys and ranks over a narrow projection; the full rows are read again only for representatives.
    con.execute(f"""CREATE TEMP TABLE keyed AS
        SELECT source_sha256, _row, source_path, locator, ts_utc, channel, conversation, {METHOD_SQL} AS _method,
               md5(key_text || chr(31) || (row_number() OVER (
                    PARTITION BY key_text, source_sha256 ORDER BY _row) - 1)::VARCHAR) AS _eid
        FROM (SELECT *, {KEY_SQL} AS key_text FROM {source})""")
    # list() then list_sort() is several times faster than an ordered aggregate; the sort key
    # (source hash, row in that source) leads each struct and is dropped afterwards.
    con.execute("""CREATE TEMP TABLE occ AS
        SELECT _eid, _method, copies[1].s AS first_sha, copies[1].r AS first_row,
               list_transform(copies, lambda c: {'source_sha256': c.s, 'source_path': c.p, 'locator': c.l})
                   AS occurrences
        FROM (SELECT _eid, any_value(_method) AS _method,
                     list_sort(list({'s': source_sha256, 'r': _row, 'p': source_path, 'l': locator})) AS copies
              FROM keyed GROUP BY _eid)""")
    con.execute(f"""CREATE TEMP VIEW base AS
        SELECT r.*, o._eid, o._method, o.occurrences FROM {source} r
        JOIN occ o ON o.first_sha = r.source_sha256 AND o.first_row = r._row""")
    _near_duplicates(con)
    _parties(con)
    _possibly_deleted(con)
    return DedupSession(con)


def _empty_staged(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""CREATE TEMP TABLE staged (event_id VARCHAR, ts_utc TIMESTAMPTZ, ts_local VARCHAR,
        ts_precision VARCHAR, tz_source VARCHAR, channel VARCHAR, kind VARCHAR, direction VARCHAR,
        sender VARCHAR, sender_raw VARCHAR, recipients VARCHAR[], party VARCHAR, conversation VARCHAR,
        subject VARCHAR, body VARCHAR, duration_s INTEGER,
        attachments STRUCT(name VARCHAR, mime VARCHAR, size BIGINT, sha256 VARCHAR)[], flags VARCHAR[],
        source_sha256 VARCHAR, source_path VARCHAR, locator VARCHAR, parser VARCHAR, extra VARCHAR, _row BIGINT)""")


def _near_duplicates(con: duckdb.DuckDBPyConnection) -> None:
    """Link events that differ only by a rounding of time or a loosely equal number (never merged):
    neighbours in time, within 2 seconds, with the same text and the same last 9 characters of the
    counterpart."""
    con.execute(f"""CREATE TEMP TABLE near AS
        WITH c AS (
            SELECT _eid, ts_utc AS ts,
                   hash(channel, direction, body, kind, duration_s,
                        right(regexp_replace(CASE WHEN direction = 'outgoing'
                                                  THEN coalesce(array_to_string(list_sort(recipients), '~'), '')
                                                  ELSE coalesce(sender, '') END, '[^0-9A-Za-z@.~:]', '', 'g'), 9)
                   ) AS grp
            FROM base WHERE channel IN ('sms', 'mms', 'call', 'whatsapp')),
        w AS (
            SELECT _eid, ts, lag(_eid) OVER o AS prev_eid, lag(ts) OVER o AS prev_ts,
                   lead(_eid) OVER o AS next_eid, lead(ts) OVER o AS next_ts
            FROM c WINDOW o AS (PARTITION BY grp ORDER BY ts, _eid)),
        pairs AS (
            SELECT _eid, prev_eid AS other FROM w WHERE epoch(ts) - epoch(prev_ts) <= 2
            UNION ALL
            SELECT _eid, next_eid AS other FROM w WHERE epoch(next_ts) - epoch(ts) <= 2)
        SELECT _eid, list(DISTINCT other ORDER BY other) AS near FROM pairs GROUP BY _eid""")


def _parties(con: duckdb.DuckDBPyConnection) -> None:
    """Each event's other side mapped to a case.toml party (see timeline/parties.py for the rule)."""
    con.execute("""CREATE TEMP TABLE party_of AS
        WITH b AS (SELECT _eid, sender, recipients, direction, conversation, source_sha256 FROM base),
        s AS (SELECT b._eid, l.party FROM b JOIN links l ON l.ident = b.sender),
        r AS (SELECT _eid, arg_min(l.party, pos) AS party FROM (
                SELECT _eid, unnest(recipients) AS ident, generate_subscripts(recipients, 1) AS pos FROM b) u
              JOIN links l USING (ident) GROUP BY _eid),
        conv AS (SELECT b.conversation, b.source_sha256, min(l.party) AS party
                 FROM b JOIN links l ON l.ident = b.sender
                 WHERE b.direction = 'incoming' AND b.conversation IS NOT NULL
                 GROUP BY ALL HAVING count(DISTINCT l.party) = 1)
        SELECT b._eid,
               CASE WHEN b.direction = 'incoming' THEN s.party
                    WHEN b.direction = 'outgoing' THEN coalesce(r.party, CASE WHEN len(coalesce(b.recipients, []))
                                                                         = 0 THEN conv.party END)
                    ELSE coalesce(s.party, r.party) END AS party
        FROM b LEFT JOIN s USING (_eid) LEFT JOIN r USING (_eid)
        LEFT JOIN conv ON conv.conversation = b.conversation AND conv.source_sha256 = b.source_sha256""")


def _possibly_deleted(con: duckdb.DuckDBPyConnection) -> None:
    """For two sources of one kind (and one chat) that overlap in time, the events the earlier one
    holds within the later one's span that the later one lacks."""
    formats = ", ".join(f"'{f}'" for f in OVERLAPPING_FORMATS)
    con.execute(f"""CREATE TEMP TABLE possibly_deleted AS
        WITH span AS (
            SELECT k.source_sha256 AS sha, s.format, s.path,
                   CASE WHEN s.format = 'whatsapp' THEN min(k.conversation) END AS scope,
                   min(k.ts_utc) AS t0, max(k.ts_utc) AS t1
            FROM keyed k JOIN src s ON s.sha256 = k.source_sha256
            WHERE s.format IN ({formats}) GROUP BY k.source_sha256, s.format, s.path),
        pairs AS (
            SELECT a.sha AS a_sha, a.path AS a_path, b.sha AS b_sha, b.path AS b_path, b.t0 AS lo, a.t1 AS hi
            FROM span a JOIN span b ON a.format = b.format AND a.scope IS NOT DISTINCT FROM b.scope
             AND a.sha <> b.sha AND (a.t1 < b.t1 OR (a.t1 = b.t1 AND a.sha < b.sha)) AND b.t0 <= a.t1)
        SELECT k._eid AS event_id, k.ts_utc, k.channel, p.a_sha AS earlier_sha256, p.a_path AS earlier_path,
               p.b_sha AS later_sha256, p.b_path AS later_path
        FROM pairs p JOIN keyed k ON k.source_sha256 = p.a_sha AND k.ts_utc BETWEEN p.lo AND p.hi
        WHERE NOT EXISTS (SELECT 1 FROM keyed k2 WHERE k2.source_sha256 = p.b_sha AND k2._eid = k._eid)""")
