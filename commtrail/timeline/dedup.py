"""Non-destructive deduplication, party resolution and consistency checks, as SQL over staging.

DuckDB reads only the narrow columns of the staging files (out of core, both cores). Each record gets
a content key per channel; ``event_id`` is the MD5 of that key for its first copy in a source, and
the MD5 of that MD5 and n for the n-th repeat within one source, so the same message in two backups
is one event while three identical texts sent in one minute stay three. The representative of an
event is its copy in the source with the smallest hash (a choice independent of ingest order).
DuckDB hands back one narrow row per event, in staging order; ``timeline/assemble.py`` joins them to
the full staged rows and writes the master.

Inside DuckDB a record is addressed by ``k = source index << 32 | row``, sources being numbered in
hash order, and an event by the 128-bit number of its MD5; both become text only at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from commtrail.case import Case, CaseConfig
from commtrail.timeline import chatlinks, keys
from commtrail.timeline.produced import Carry, Production, numbering_sql
from commtrail.timeline.schema import EXTRA_CHAT, EXTRA_DEVICE

SEP = "chr(31)"

# Recipients as one text, in a fixed order (the sort is skipped for the usual single recipient).
RECIPIENTS_SQL = ("coalesce(CASE WHEN len(recipients) <= 1 THEN recipients[1] "
                  "ELSE array_to_string(list_sort(recipients), '~') END, '')")


def _floor_seconds(unit_us: int) -> str:
    """Whole seconds of ts_utc cut down to a multiple of ``unit_us`` (integer arithmetic, exact before 1970 too)."""
    return (f"((epoch_us(ts_utc) - (epoch_us(ts_utc) % {unit_us} + {unit_us}) % {unit_us}) // 1000000)")


# The content key of a record, per channel. Times are cut to the precision both copies share; an
# undated record (null ts_utc) has the word 'undated' in their place. A WhatsApp message deleted for
# everyone, or one with media, is keyed by that alone, not by its text or file: a database holds no
# text for the first ("This message was deleted" in an export), and the caption and the file's name
# for the second, where an export writes "<attached: NAME>", "NAME (file attached)" or "<Media omitted>".
KEY_SQL = f"""
concat_ws({SEP},
  channel,
  kind,
  direction,
  CASE WHEN channel = 'whatsapp' THEN coalesce(sender, '') || {SEP} || coalesce(conv_id, '')
       WHEN direction = 'incoming' THEN coalesce(sender, '')
       WHEN direction = 'outgoing' THEN {RECIPIENTS_SQL}
       ELSE coalesce(sender, '') || '>' || {RECIPIENTS_SQL} END,
  coalesce(CASE WHEN channel = 'whatsapp' OR ts_precision = 'min' THEN {_floor_seconds(60_000_000)}
                ELSE {_floor_seconds(1_000_000)} END::VARCHAR, 'undated'),
  CASE WHEN channel = 'call' THEN coalesce(duration_s::VARCHAR, '')
       WHEN channel = 'email' THEN coalesce(json_extract_string(extra, '$.message_id'), '') || {SEP} ||
            md5(concat_ws({SEP}, coalesce(sender, ''), {RECIPIENTS_SQL}, coalesce(subject, ''), coalesce(body, '')))
       WHEN channel = 'whatsapp' AND list_contains(flags, 'deleted') THEN {SEP} || 'deleted'
       WHEN channel = 'whatsapp' AND (len(attachments) > 0 OR list_contains(flags, 'media_omitted'))
            THEN {SEP} || 'media'
       WHEN len(attachments) > 0 THEN coalesce(body, '') || {SEP} ||
            array_to_string(list_transform(attachments, lambda a: coalesce(a.sha256, a.name)), '~')
       ELSE coalesce(body, '') || {SEP}
  END
)"""

DUP_METHODS = ("counterpart+direction+second+text", "number+kind+second+duration", "author+chat+minute+text",
               "message-id+content", "content", "channel+who+second+text")

METHOD_SQL = """
CASE WHEN channel IN ('sms', 'mms') THEN 'counterpart+direction+second+text'
     WHEN channel = 'call' THEN 'number+kind+second+duration'
     WHEN channel = 'whatsapp' THEN 'author+chat+minute+text'
     WHEN channel = 'email' AND json_extract_string(extra, '$.message_id') IS NOT NULL THEN 'message-id+content'
     WHEN channel = 'email' THEN 'content'
     ELSE 'channel+who+second+text' END::dup_method"""

# The first party among an identifier list (links is a MAP of identifier -> party, set per run).
_FIRST_PARTY = "list_filter(list_transform(recipients, lambda x: getvariable('links')[x]), lambda p: p IS NOT NULL)[1]"

# A record's other side mapped to a case.toml party: the sender of incoming records, the first linked
# recipient of outgoing ones (or, with no recipients, the one party writing in that chat), else either.
# An incident's "who" is its sender (a phone or e-mail) or, as written, a WhatsApp name or a party's
# name in any case (party_names is a MAP of lower-case name -> party).
PARTY_SQL = f"""
CASE WHEN channel = 'incident' THEN coalesce(getvariable('links')[sender],
                                             getvariable('links')['wa:' || trim(sender_raw)],
                                             getvariable('party_names')[lower(trim(sender_raw))])
     WHEN direction = 'incoming' THEN getvariable('links')[sender]
     WHEN direction = 'outgoing' THEN coalesce({_FIRST_PARTY},
                                               CASE WHEN len(coalesce(recipients, [])) = 0 THEN conv_party END)
     ELSE coalesce(getvariable('links')[sender], {_FIRST_PARTY}) END"""

# Events that differ only by a rounding of time or a loosely equal number fall in one group: same
# channel, direction, text, kind, duration and the same last 9 characters of the counterpart once
# punctuation is dropped (when those 9 hold none, dropping it elsewhere cannot change them).
_COUNTERPART = f"CASE WHEN direction = 'outgoing' THEN {RECIPIENTS_SQL} ELSE coalesce(sender, '') END"
_TAIL_SQL = (f"CASE WHEN regexp_full_match(right({_COUNTERPART}, 9), '[0-9A-Za-z@.~:]*') THEN right({_COUNTERPART}, 9) "
             f"ELSE right(regexp_replace({_COUNTERPART}, '[^0-9A-Za-z@.~:]', '', 'g'), 9) END")
NEAR_GROUP_SQL = f"""
CASE WHEN channel IN ('sms', 'mms', 'call', 'whatsapp') THEN
  hash(channel, direction, body, kind, duration_s, {_TAIL_SQL}) END"""

# What a record weighs once loaded, roughly: decides how many events the assembler sorts at once.
SIZE_SQL = """
(240 + coalesce(strlen(body), 0) + coalesce(strlen(extra), 0) + coalesce(strlen(subject), 0)
     + coalesce(strlen(ts_local), 0) + 2 * coalesce(strlen(locator), 0))::BIGINT"""

# Formats whose later files repeat the earlier ones (full backups, re-exports of one chat, copies of
# an Android database taken at two times). iPhone backups are compared only when they name one
# phone; a chat.db (apple-messages) names none.
OVERLAPPING_FORMATS = ("smsbr-sms", "smsbr-calls", "whatsapp", "ios-backup", "android-sms", "android-calls")

# An event's id from its key's MD5 ``kh`` and the copy's rank ``n`` among its source's copies of that key.
EVENT_ID_SQL = "CASE WHEN n = 1 THEN kh ELSE md5_number(hex(kh) || ':' || (n - 1)::VARCHAR) END"

# The text columns of a representative, made as the readers give them (table reps holds numbers).
REP_TEXT = ("hexid(eid) AS event_id, party, near, copies, method::VARCHAR AS dup_method, "
            "printf('CT-%06d', number) AS exhibit")

# One assembler bucket holds events of about this many estimated bytes (the one-pass assembler
# holds a bucket or two; the general path's temporary files each hold assemble.BUCKETS_PER_FILE).
BUCKET_BYTES = 8 * 1024 * 1024

# Representatives per batch given to the assembler: it holds a few batches' master rows at a time.
REPRESENTATIVE_BATCH_ROWS = 8_192

# Rows per batch of the key files' reader: DuckDB makes the Arrow batches of a reader in memory of
# its own, a few at a time (131,072-row batches took 60 MiB more on the 1,000,000-message chat).
KEY_BATCH_ROWS = 32_768

# The SQL a record's keyed row is computed with (a key file made by other SQL is not reused; the
# chat identities and parties of _conversation_tables are covered by keys.VERSION).
KEYED_CODE = "\n".join((KEY_SQL, PARTY_SQL, NEAR_GROUP_SQL, METHOD_SQL, SIZE_SQL, EVENT_ID_SQL))


@dataclass
class DedupSession:
    """A DuckDB connection holding the keyed events; queries read from it."""

    con: duckdb.DuckDBPyConnection
    prints: list[dict]   # the fingerprint of each source's keyed rows (timeline/keys.py)

    def index_representatives(self, productions: Sequence[Production] = (),
                              carries: Sequence[Carry] = ()) -> list[tuple[int, int]]:
        """Number the events in exhibit order and spread them over assembler buckets (table ``reps``);
        returns (source index, events represented there) for every source that represents any.

        Exhibit order is time (undated events after every dated one), then the address of the
        representative copy (its source in hash order, then its row, which is its position in that
        source): events of one time read in the order their source holds them. The address is unique, so the order is total.
        Events that ``productions`` froze (or ``carries`` moved them to) come first with their
        numbers (timeline/produced.py)."""
        join, order, number = numbering_sql(self.con, productions, carries)
        self.con.execute(f"""CREATE TABLE reps AS
            SELECT (o.first >> 32)::INTEGER AS src, (o.first & 4294967295)::BIGINT AS row, o.ord, o.bucket,
                   o.eid, o.party, n.near, o.copies, o.method, ({number})::BIGINT AS number
            FROM (SELECT *, row_number() OVER w - 1 AS ord,
                         ((sum(size) OVER w - size) // {BUCKET_BYTES})::BIGINT AS bucket
                  FROM occ {join} WINDOW w AS (ORDER BY {order} ROWS UNBOUNDED PRECEDING)) o
            LEFT JOIN near n USING (eid)""")
        self.con.execute("DROP TABLE occ")
        return self._counts()

    def group_digests(self, rows: int, tokens: Sequence[int]) -> list[list[int]]:
        """Per run of ``rows`` events in exhibit order (a master row group): [events, digest, digest]
        of what their master rows hold beyond the staged rows (timeline/reuse.py): exhibit order,
        event id, party, near duplicates, copies (each by its source's ``tokens`` entry and its
        row), dup method and exhibit number. Two 64-bit hashes per event, combined by XOR."""
        self.con.execute("SET VARIABLE tokens = ?::UBIGINT[]", [list(tokens)])
        rows = int(rows)
        return [list(r) for r in self.con.execute(f"""
            SELECT count(*), bit_xor(hash(ord, eid, party, near, c, m, number)),
                   bit_xor(hash(c, number, near, m, party, eid, ord))
            FROM (SELECT ord, eid, party, near, method::VARCHAR AS m, number,
                         list_transform(copies, lambda k: hash(getvariable('tokens')[(k >> 32)::INTEGER + 1],
                                                               k & 4294967295)) AS c FROM reps)
            GROUP BY ord // {rows} ORDER BY ord // {rows}""").fetchall()]

    def drop_leading(self, events: int) -> list[tuple[int, int]]:
        """Forget the first ``events`` events in exhibit order (the master keeps them from the last
        one, timeline/reuse.py); returns (source index, events represented there) for the rest."""
        self.con.execute("DELETE FROM reps WHERE ord < ?", [events])
        return self._counts()

    def _counts(self) -> list[tuple[int, int]]:
        return [tuple(r) for r in self.con.execute("SELECT src, count(*) FROM reps GROUP BY src ORDER BY src").fetchall()]

    def buckets_in_staging_order(self) -> np.ndarray:
        """The bucket of every representative, read in staging order (source, row)."""
        return self.con.execute("SELECT bucket FROM reps ORDER BY src, row").fetchnumpy()["bucket"]

    def representatives_reader(self) -> Callable[[int, int], pa.RecordBatchReader]:
        """A function giving the events whose representative copy is in sources ``first``..``last``,
        ordered by (source, row): ``src``, ``row``, ``ord`` (0-based exhibit order), ``bucket``,
        ``event_id``, ``party``, ``near`` (ids of near duplicates), ``copies`` (addresses of every
        copy, in source order), ``dup_method`` and ``exhibit``. Each reader has its own cursor: make
        one per thread, in the calling thread."""
        cursor = self.con.cursor()

        def read(first: int, last: int) -> pa.RecordBatchReader:
            return arrow_reader(cursor.sql(f"SELECT src, row, ord, bucket, {REP_TEXT} FROM reps "
                                           f"WHERE src BETWEEN {int(first)} AND {int(last)} ORDER BY src, row"),
                                REPRESENTATIVE_BATCH_ROWS)
        return read

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


# DuckDB's memory while it keys, groups and numbers the records: about 256 bytes a staged record
# (its tables hold some 120, its sorts as much again), at least 256 MB and at most 2,560 MB (what
# 10,000,000 records take); past it, it spills to the case's temporary folder. The 1,000,000-message
# chat peaked 60-90 MiB lower with 256 MB than with 2,560 MB, in the same CPU time; at 160 MB its
# sorts spilled, for 15-20 % more CPU.
MEMORY_PER_RECORD = 256
MEMORY_LIMIT_MB = (256, 2560)


def build_memory_limit(records: int) -> str:
    """DuckDB's memory limit for a build over this many staged records."""
    low, high = MEMORY_LIMIT_MB
    return f"{min(high, max(low, records * MEMORY_PER_RECORD >> 20))}MB"


def connect(tmp_dir: Path, memory_limit: str = "2560MB") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that never fetches extensions and spills to ``tmp_dir``."""
    tmp_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "threads": 2,
                                 "memory_limit": memory_limit, "temp_directory": str(tmp_dir),
                                 "preserve_insertion_order": False})
    con.execute("SET enable_progress_bar = false")
    con.execute("SET TimeZone = 'UTC'")
    return con


def run_dedup(files: Sequence[Path], sources: Sequence[dict], config: CaseConfig, tmp_dir: Path,
              keys_of: Case | None = None, produced: Callable[[], set[str]] | None = None) -> DedupSession:
    """Key the staged records, group them into events and work out parties, near duplicates and
    possibly deleted events. ``files`` and ``sources`` are in the same order, sorted by hash.

    With ``keys_of`` (the case), the keyed rows of a source are read from its key file
    when that is still valid, and written for the others (timeline/keys.py): only sources that are
    new, re-staged or keyed under other settings are read from staging; ``produced`` gives the event
    ids of every production (asked only when a source's group links would change)."""
    con = connect(tmp_dir, build_memory_limit(sum(s.get("records", 0) for s in sources)))
    con.execute("CREATE MACRO hexid(x) AS lpad(lower(hex(x)), 32, '0')")
    con.execute(f"CREATE TYPE dup_method AS ENUM ({', '.join(repr(m) for m in DUP_METHODS)})")
    links = sorted([ident, link.party] for ident, link in config.links.items())
    con.execute("SET VARIABLE links = map(?::VARCHAR[], ?::VARCHAR[])",
                [[ident for ident, _ in links], [party for _, party in links]])
    names: dict[str, str] = {}
    for party in config.parties:
        names.setdefault(party.name.lower(), party.name)
    con.execute("SET VARIABLE party_names = map(?::VARCHAR[], ?::VARCHAR[])", [list(names), list(names.values())])
    con.execute("CREATE TEMP TABLE src (idx INTEGER, sha256 VARCHAR, format VARCHAR, path VARCHAR)")
    if sources:
        con.executemany("INSERT INTO src VALUES (?, ?, ?, ?)",
                        [(i, s["sha256"], s["format"], s["path"]) for i, s in enumerate(sources)])
    prints = [keys.fingerprint(KEYED_CODE, config, [links, names], s, f) for s, f in zip(sources, files)]
    kept = keys.reusable(keys_of, prints, [s["sha256"] for s in sources]) if keys_of is not None else {}
    fresh = [i for i in range(len(files)) if i not in kept]
    _chat_identities(con, files, fresh)
    group_links = _unproduced_links(con, files, sources, kept, fresh, chatlinks.resolve(con, kept),
                                    produced, keys_of)
    relinked = _relinked(kept, group_links)
    if relinked:      # a source whose group links changed is keyed again from staging
        _chat_identities(con, files, relinked)
        fresh = sorted(fresh + relinked)
        kept = {i: facts for i, facts in kept.items() if i not in relinked}
    staged = _staged_relation(con, files, fresh)
    _device_identities(con, files, sources, fresh)
    _conversation_tables(con, staged)
    _kept_facts(con, kept)
    # An event is a key's first copy in each source (its id is the key's MD5), or its n-th copy
    # (the MD5 of that MD5 and n), so repeats within one source stay apart: an id depends on its
    # source alone, and a key file holds it.
    con.execute(f"""CREATE TABLE keyed AS
        WITH fresh AS (
            SELECT (r.file_index::UBIGINT << 32) | r.file_row_number::UBIGINT AS k, r.ts_utc AS ts, r.channel,
                   {PARTY_SQL} AS party, {NEAR_GROUP_SQL} AS grp, {METHOD_SQL} AS method, {SIZE_SQL} AS size,
                   md5_number({KEY_SQL}) AS kh
            FROM {staged} r LEFT JOIN conv ON conv_src = r.file_index AND conv_chat = r.conversation),
        ranked AS (SELECT *, row_number() OVER (PARTITION BY kh, k >> 32 ORDER BY k) AS n FROM fresh)
        SELECT k, ts, channel, party, grp, method, size, {EVENT_ID_SQL} AS eid FROM ranked""")
    for index, facts in kept.items():
        path = str(keys.key_path(keys_of.root, sources[index]["sha256"])).replace("'", "''")
        con.execute(f"""INSERT INTO keyed
            SELECT ({index}::UBIGINT << 32) | row::UBIGINT, ts, channel, party, grp, method::dup_method, size,
                   (eid_hi::UHUGEINT << 64) | eid_lo::UHUGEINT
            FROM read_parquet('{path}')""")
    if keys_of is not None:
        _write_keys(con, keys_of.root, sources, fresh, prints, group_links)
        keys.drop_stale(keys_of.root, [s["sha256"] for s in sources])
    # Only events whose id more than one source holds are grouped; every other record is an event
    # of its own. The representative is the copy with the smallest address (source hash, then
    # row). list() then list_sort() is several times faster than an ordered aggregate.
    single = "SELECT eid, k AS first, ts, channel, party, grp, size, method, [k] AS copies FROM keyed"
    if one_event_per_record(files):
        con.execute(f"CREATE TEMP TABLE occ AS {single}")
    else:
        con.execute("""CREATE TEMP TABLE shared AS
            SELECT eid FROM keyed GROUP BY eid HAVING min(k >> 32) <> max(k >> 32)""")
        con.execute(f"""CREATE TEMP TABLE occ AS
            WITH events AS (
                SELECT eid, min(k) AS first, list_sort(list(k)) AS copies,
                       arg_min({{'ts': ts, 'channel': channel, 'party': party, 'grp': grp, 'size': size,
                                 'method': method}}, k) AS rep
                FROM keyed SEMI JOIN shared USING (eid) GROUP BY eid)
            {single} ANTI JOIN shared USING (eid)
            UNION ALL
            SELECT eid, first, rep['ts'] AS ts, rep['channel'] AS channel, rep['party'] AS party,
                   rep['grp'] AS grp, rep['size'] AS size, rep['method'] AS method, copies
            FROM events""")
        con.execute("DROP TABLE shared")
    con.execute("DROP TABLE keyed")
    _near_duplicates(con)
    _possibly_deleted(con)
    return DedupSession(con, prints)


def _unproduced_links(con: duckdb.DuckDBPyConnection, files: Sequence[Path], sources: Sequence[dict],
                      kept: dict[int, dict], fresh: Sequence[int], links: dict[int, list[list[str]]],
                      produced: Callable[[], set[str]] | None, keys_of: Case | None) -> dict[int, list[list[str]]]:
    """The group links of each source (timeline/chatlinks.py), less those that would change the id
    of an event a production froze: a source with a key file keeps the links it was keyed with when
    that file holds a produced event; a source keyed from staging is not linked when its events
    keyed without the link include a produced one."""
    changed = _relinked(kept, links)
    linked = [i for i in fresh if links.get(i)]
    if not (changed or linked) or produced is None or not (frozen := produced()):
        return links
    held = [kept[i] for i in changed if keys.holds_any(keys_of.root, sources[i]["sha256"], frozen)]
    held += [{"groups": [[chat] for chat, _ in links[i]], "links": []}
             for i in _unlinked_produced(con, files, linked, frozen)]
    return chatlinks.pin(con, held) if held else links


def _unlinked_produced(con: duckdb.DuckDBPyConnection, files: Sequence[Path], indexes: Sequence[int],
                       frozen: set[str]) -> list[int]:
    """Those of these sources whose WhatsApp records, keyed with their own chat identity (``chat_ids``),
    have an event id among ``frozen``."""
    if not indexes:
        return []
    con.execute("CREATE TEMP TABLE produced_ids AS SELECT unnest(?::VARCHAR[]) AS eid", [sorted(frozen)])
    rows = con.execute(f"""
        WITH k AS (
            SELECT r.src, r.file_row_number, md5_number({KEY_SQL}) AS kh
            FROM (SELECT *, {_index_map(indexes)}[file_index::INTEGER + 1] AS src
                  FROM read_parquet({_file_list([files[i] for i in indexes])}, file_row_number = true)
                  WHERE channel = 'whatsapp') r
            JOIN (SELECT src AS conv_src, conversation AS conv_chat, chat AS conv_id FROM chat_ids) c
              ON c.conv_src = r.src AND c.conv_chat = r.conversation),
        ranked AS (SELECT src, kh, row_number() OVER (PARTITION BY kh, src ORDER BY file_row_number) AS n FROM k)
        SELECT DISTINCT src FROM ranked WHERE hexid({EVENT_ID_SQL}) IN (SELECT eid FROM produced_ids) ORDER BY src""")
    held = [src for (src,) in rows.fetchall()]
    con.execute("DROP TABLE produced_ids")
    return held


def _relinked(kept: dict[int, dict], links: dict[int, list[list[str]]]) -> list[int]:
    """The sources whose key files were made with other group links than ``links`` (timeline/chatlinks.py)."""
    return [i for i, facts in kept.items() if facts.get("links", []) != links.get(i, [])]


def _write_keys(con: duckdb.DuckDBPyConnection, root: Path, sources: Sequence[dict], fresh: Sequence[int],
                prints: Sequence[dict], links: dict[int, list[list[str]]]) -> None:
    """The key file of every source keyed from staging in this build, with its span, phone, group
    chats and their links."""
    cursor = con.cursor()   # a reader of its own: the connection goes on with other queries
    for index in fresh:
        span = con.execute("SELECT scope, epoch_us(t0), epoch_us(t1) FROM source_span WHERE src = ?",
                           [index]).fetchone()
        device = con.execute("SELECT device FROM device_ids WHERE src = ?", [index]).fetchone()
        facts = {"fingerprint": prints[index], "span": list(span) if span else None,
                 "device": device[0] if device else None, "ios": device is not None,
                 "groups": chatlinks.groups_of(con, index), "links": links.get(index, [])}
        rows = arrow_reader(cursor.sql(f"""
            SELECT (k & 4294967295)::UINTEGER AS row, ts, channel, party, grp, size, method::VARCHAR AS method,
                   (eid >> 64)::UBIGINT AS eid_hi, (eid & 18446744073709551615::UHUGEINT)::UBIGINT AS eid_lo
            FROM keyed WHERE k >> 32 = {index}::UBIGINT ORDER BY k"""), KEY_BATCH_ROWS)
        keys.write_keys(root, sources[index]["sha256"], rows, facts)
    cursor.close()


def _kept_facts(con: duckdb.DuckDBPyConnection, kept: dict[int, dict]) -> None:
    """The span and phone of the sources whose key files are reused (for the possibly-deleted check)."""
    for index, facts in kept.items():
        if facts.get("span"):
            scope, t0, t1 = facts["span"]
            con.execute("INSERT INTO source_span VALUES (?, ?, make_timestamp(?::BIGINT)::TIMESTAMPTZ, "
                        "make_timestamp(?::BIGINT)::TIMESTAMPTZ)", [index, scope, t0, t1])
        if facts.get("ios"):
            con.execute("INSERT INTO device_ids VALUES (?, ?)", [index, facts.get("device")])


def one_event_per_record(files: Sequence[Path]) -> bool:
    """Whether every staged record is an event of its own, so nothing needs grouping: one source
    (a key's n-th copy in a source has an id of its own)."""
    return len(files) == 1


def _staged_relation(con: duckdb.DuckDBPyConnection, files: Sequence[Path], fresh: Sequence[int]) -> str:
    """SQL reading the staging files of the sources ``fresh`` (indexes into ``files``) with their
    index and row number (an empty table when none)."""
    if len(fresh) == len(files) and files:
        return f"read_parquet({_file_list(files)}, file_row_number = true)"
    if fresh:
        return (f"(SELECT *, {_index_map(fresh)}[file_index::INTEGER + 1]::BIGINT AS file_index "
                f"FROM read_parquet({_file_list([files[i] for i in fresh])}, file_row_number = true))")
    con.execute("""CREATE TEMP TABLE staged (event_id VARCHAR, ts_utc TIMESTAMPTZ, ts_local VARCHAR,
        ts_precision VARCHAR, tz_source VARCHAR, channel VARCHAR, kind VARCHAR, direction VARCHAR,
        sender VARCHAR, sender_raw VARCHAR, recipients VARCHAR[], party VARCHAR, conversation VARCHAR,
        subject VARCHAR, body VARCHAR, duration_s INTEGER,
        attachments STRUCT(name VARCHAR, mime VARCHAR, size BIGINT, sha256 VARCHAR)[], flags VARCHAR[],
        source_sha256 VARCHAR, source_path VARCHAR, locator VARCHAR, parser VARCHAR, extra VARCHAR,
        file_index BIGINT, file_row_number BIGINT)""")
    return "staged"


def _index_map(indexes: Sequence[int]) -> str:
    """A SQL list literal of source indexes (1-based lookup by a file's position in a subset)."""
    return "([" + ", ".join(str(int(i)) for i in indexes) + "]::INTEGER[])"


def _file_list(files: Sequence[Path]) -> str:
    """A SQL list of file paths."""
    return "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"


def _staged_of(files: Sequence[Path], sources: Sequence[dict], fresh: Sequence[int],
               *formats: str) -> tuple[list[int], str] | None:
    """The indexes of the ``fresh`` sources of these formats and SQL reading only their staging
    files (their ``file_index`` maps back through the list), or None when there are none."""
    wanted = [i for i in fresh if sources[i]["format"] in formats]
    return (wanted, f"read_parquet({_file_list([files[i] for i in wanted])})") if wanted else None


def _chat_identities(con: duckdb.DuckDBPyConnection, files: Sequence[Path], indexes: Sequence[int]) -> None:
    """Per source and WhatsApp chat, the identity its parser told (``extra``; table ``chat_ids``)
    and, for a group, its name and people (timeline/chatlinks.py): WhatsApp exports and the WhatsApp
    records of phone databases. Only the WhatsApp records are read for it (the filter on
    ``channel`` skips row groups of other channels): the ``extra`` of others can be large."""
    con.execute("CREATE TEMP TABLE IF NOT EXISTS chat_ids (src INTEGER, conversation VARCHAR, chat VARCHAR, "
                "name VARCHAR, people VARCHAR[])")
    if indexes:
        chats = f"""SELECT {_index_map(indexes)}[file_index::INTEGER + 1] AS src, conversation, min(extra) AS x,
                   json_extract_string(min(extra), '$.{EXTRA_CHAT}') AS chat,
                   list(DISTINCT sender) FILTER (WHERE direction = 'incoming' AND sender IS NOT NULL) AS senders
            FROM read_parquet({_file_list([files[i] for i in indexes])})
            WHERE channel = 'whatsapp' GROUP BY ALL"""
        con.execute(f"INSERT INTO chat_ids {chatlinks.facts_sql(chats)}")


def _device_identities(con: duckdb.DuckDBPyConnection, files: Sequence[Path], sources: Sequence[dict],
                       fresh: Sequence[int]) -> None:
    """Per iPhone backup, the phone its parser named in every record's ``extra`` (table
    ``device_ids``; NULL when a record names none or another)."""
    con.execute("CREATE TEMP TABLE device_ids (src INTEGER, device VARCHAR)")
    if staged := _staged_of(files, sources, fresh, "ios-backup"):
        con.execute(f"""INSERT INTO device_ids
            SELECT ($wanted::INTEGER[])[file_index::INTEGER + 1],
                   CASE WHEN count(d) = count(*) AND min(d) = max(d) THEN min(d) END
            FROM (SELECT file_index, json_extract_string(extra, '$.{EXTRA_DEVICE}') AS d FROM {staged[1]})
            GROUP BY ALL""", {"wanted": staged[0]})


def _conversation_tables(con: duckdb.DuckDBPyConnection, staged: str) -> None:
    """Per source and chat (``conv``): its identity in the WhatsApp key (``conv_id``: the database
    group an export's group is linked to, else the one in ``chat_ids``; for staging written before
    the parser told it, the chat name), and the one party
    whose incoming messages it holds, if only one (``conv_party``, for the owner's messages, which
    name no recipient). Per source, its chat identity and time span (``source_span``)."""
    con.execute(f"""CREATE TEMP TABLE chats AS
        SELECT c.*, coalesce(l.target, i.chat, 'name:' || c.conversation) AS chat_id
        FROM (SELECT file_index AS src, conversation, min(ts_utc) AS t0, max(ts_utc) AS t1,
                     min(p) AS first_party, max(p) AS last_party
              FROM (SELECT file_index, conversation, ts_utc,
                           CASE WHEN direction = 'incoming' THEN getvariable('links')[sender] END AS p FROM {staged})
              GROUP BY ALL) c
        LEFT JOIN chat_ids i ON i.src = c.src AND i.conversation = c.conversation
        LEFT JOIN chat_links l ON l.chat = i.chat""")
    con.execute("""CREATE TEMP TABLE conv AS
        SELECT src AS conv_src, conversation AS conv_chat, chat_id AS conv_id,
               CASE WHEN first_party = last_party THEN first_party END AS conv_party
        FROM chats WHERE conversation IS NOT NULL""")
    con.execute("""CREATE TEMP TABLE source_span AS
        SELECT src, min(chat_id) AS scope, min(t0) AS t0, max(t1) AS t1 FROM chats GROUP BY src""")


def _near_duplicates(con: duckdb.DuckDBPyConnection) -> None:
    """Link events of one near-duplicate group that are neighbours in time within 2 seconds (never
    merged). Groups of one event, most of them, are left out before the sort."""
    con.execute("""CREATE TEMP TABLE near AS
        WITH w AS (
            SELECT eid, ts, lag(eid) OVER o AS prev_eid, lag(ts) OVER o AS prev_ts,
                   lead(eid) OVER o AS next_eid, lead(ts) OVER o AS next_ts
            FROM occ WHERE grp IN (SELECT grp FROM occ GROUP BY grp HAVING count(*) > 1)
            WINDOW o AS (PARTITION BY grp ORDER BY ts, eid)),
        pairs AS (
            SELECT eid, prev_eid AS other FROM w WHERE epoch(ts) - epoch(prev_ts) <= 2
            UNION ALL
            SELECT eid, next_eid AS other FROM w WHERE epoch(next_ts) - epoch(ts) <= 2)
        SELECT eid, list_transform(list(DISTINCT other ORDER BY other), lambda x: hexid(x)) AS near
        FROM pairs GROUP BY eid""")


def _possibly_deleted(con: duckdb.DuckDBPyConnection) -> None:
    """For two sources of one kind (and one chat, or one phone) that overlap in time, the events the
    earlier one holds within the later one's span that the later one lacks. An iPhone backup that
    names no phone is its own scope (compared with no other)."""
    formats = ", ".join(f"'{f}'" for f in OVERLAPPING_FORMATS)
    con.execute(f"""CREATE TEMP TABLE possibly_deleted AS
        WITH span AS (
            SELECT s.idx, s.sha256 AS sha, s.format, s.path,
                   CASE s.format WHEN 'whatsapp' THEN c.scope
                                 WHEN 'ios-backup' THEN coalesce('device:' || d.device, 'source:' || s.sha256)
                   END AS scope,
                   c.t0, c.t1
            FROM src s JOIN source_span c ON c.src = s.idx LEFT JOIN device_ids d ON d.src = s.idx
            WHERE s.format IN ({formats})),
        pairs AS (
            SELECT a.idx AS a_idx, a.sha AS a_sha, a.path AS a_path, b.idx AS b_idx, b.sha AS b_sha,
                   b.path AS b_path, b.t0 AS lo, a.t1 AS hi
            FROM span a JOIN span b ON a.format = b.format AND a.scope IS NOT DISTINCT FROM b.scope
             AND a.sha <> b.sha AND (a.t1 < b.t1 OR (a.t1 = b.t1 AND a.sha < b.sha)) AND b.t0 <= a.t1)
        SELECT hexid(o.eid) AS event_id, o.ts AS ts_utc, o.channel, p.a_sha AS earlier_sha256,
               p.a_path AS earlier_path, p.b_sha AS later_sha256, p.b_path AS later_path
        FROM pairs p
        JOIN (SELECT eid, ts, channel, list_transform(copies, lambda c: c >> 32) AS held_by FROM occ) o
          ON o.ts BETWEEN p.lo AND p.hi
        WHERE list_contains(o.held_by, p.a_idx::UBIGINT) AND NOT list_contains(o.held_by, p.b_idx::UBIGINT)""")
