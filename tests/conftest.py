"""Shared test helpers: a parse context and a one-call parser runner."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

from commtrail.blobs import DirBlobStore
from commtrail.parsers import registry
from commtrail.parsers.base import Owner, ParseContext, collect

FIXTURES = Path(__file__).parent / "fixtures"


def make_ctx(tmp_path: Path, **kwargs) -> ParseContext:
    """A context with a blob store in ``tmp_path/blobs`` and the given overrides."""
    kwargs.setdefault("source_sha256", "0" * 64)
    kwargs.setdefault("source_path", "input")
    kwargs.setdefault("blobs", DirBlobStore(tmp_path / "blobs"))
    return ParseContext(**kwargs)


def run_parser(name: str, data: bytes, ctx: ParseContext):
    """Parse ``data`` with the parser registered as ``name``: (table, rejects, report)."""
    parser = registry.get(name)
    ctx.parser_label = parser.label
    table, rejects = collect(parser.parse(io.BytesIO(data), ctx), ctx)
    return table, rejects, ctx.report


def run_on_disk(tmp_path: Path, name: str, path: Path, data: bytes | None = None, **kwargs):
    """Parse the file at ``path`` (or ``data`` as if it were there) with the parser ``name``, the
    paths it names opened beside it as ingest opens them: (table, rejects, report)."""
    from commtrail.ingest.discover import _disk_relative
    relative = _disk_relative(path, str(path))
    ctx = make_ctx(tmp_path, source_path=str(path), open_relative=lambda p: relative(p)[1], **kwargs)
    return run_parser(name, path.read_bytes() if data is None else data, ctx)


def plain_rows(table) -> list[dict]:
    """A parser's records as dicts in the order it wrote them, ``ts_utc`` in ISO form and ``extra``
    parsed."""
    import json
    rows = table.to_pylist()
    for row in rows:
        row["ts_utc"] = row["ts_utc"].isoformat()
        row["extra"] = json.loads(row["extra"]) if row["extra"] else None
    return rows


@pytest.fixture
def ctx_factory(tmp_path):
    def factory(**kwargs):
        return make_ctx(tmp_path, **kwargs)
    return factory


__all__ = ["FIXTURES", "make_ctx", "run_parser", "run_on_disk", "plain_rows", "Owner"]


CASE_TOML = """
[case]
title = "Test case"
timezone = "Europe/London"
phone_region = "GB"

[owner]
name = "Sam"
phones = ["+44 7700 900999"]
emails = ["sam@example.org"]
whatsapp_names = ["Sam"]

[[party]]
name = "Jordan"
phones = ["07700 900123", "+44 7700 900456"]
emails = ["jordan.k@example.com"]
whatsapp_names = ["Jordan"]

[[event]]
date = "2024-03-01T18:30"
kind = "no_contact_request"
note = "Asked by text for no further contact"
"""


def new_case(root: Path, toml: str = CASE_TOML) -> Path:
    """An empty case folder at ``root`` holding ``toml`` as its case.toml (nothing ingested)."""
    root.mkdir(parents=True)
    (root / "case.toml").write_text(toml, encoding="utf-8")
    return root


def make_case(root: Path, sources: dict[str, list[dict]], toml: str = CASE_TOML, fmt: str = "test"):
    """A case at ``root`` whose staging holds ``sources`` (name -> record dicts), master built.

    Record dicts use RECORD_SCHEMA column names; source_sha256/source_path/locator/parser are filled
    in when missing. Returns the loaded Case.
    """
    from commtrail.case import Case
    from commtrail.timeline.master import build_master

    root.mkdir(parents=True, exist_ok=True)
    (root / "case.toml").write_text(toml, encoding="utf-8")
    case = Case(root)
    case.ensure_dirs()
    add_sources(case, sources, fmt)
    build_master(case)
    return case


def add_sources(case, sources: dict[str, list[dict]], fmt: str = "test") -> None:
    """Stage ``sources`` (name -> record dicts, as for make_case) in ``case`` and add them to its
    inventory (the master is not rebuilt)."""
    from datetime import datetime, timezone

    import pyarrow as pa

    from commtrail.inventory import generated_sha256, read_inventory, stage_generated, write_inventory
    from commtrail.timeline.schema import rows_to_batch

    inventory = read_inventory(case.sources_file)
    for name, records in sources.items():
        sha = generated_sha256(name)
        rows = []
        for i, rec in enumerate(records, 1):
            row = {"source_sha256": sha, "source_path": name, "locator": f"line {i}", "parser": f"{fmt}/1"}
            row.update(rec)
            rows.append(row)
        table = pa.Table.from_batches([rows_to_batch(rows)])
        inventory.append(stage_generated(case.staging, name, table, fmt, f"{fmt}/1",
                                         datetime(2026, 1, 1, tzinfo=timezone.utc)))
    write_inventory(case.sources_file, inventory)


def with_rowid_rewritten(path: Path, table: str, old: int, new: int) -> None:
    """Damage ``table`` as a bad sector or a careless tool might: the ROWID of its row ``old`` becomes
    ``new`` in the b-tree's leaf cell itself (both below 128: one byte), so that SQLite, trusting the
    tree, gives the rows in their stored order, ``new`` out of place. The table fits one leaf page."""
    con = sqlite3.connect(path)
    [(root,)] = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchall()
    [(size,)] = con.execute("PRAGMA page_size").fetchall()
    con.close()
    data = bytearray(path.read_bytes())
    page = (root - 1) * size
    header = page + (100 if root == 1 else 0)
    assert data[header] == 13, "the table is not one leaf page"
    cells = int.from_bytes(data[header + 3:header + 5], "big")
    for i in range(cells):
        at = page + int.from_bytes(data[header + 8 + 2 * i:header + 10 + 2 * i], "big")
        while data[at] & 0x80:   # the payload's length (a varint)
            at += 1
        at += 1
        if data[at] == old:
            data[at] = new
            path.write_bytes(bytes(data))
            return
    pytest.fail(f"no row {old} in {table}")


def damage_page_of(path: Path, name: str) -> None:
    """The root page of table or index ``name`` of an SQLite database overwritten with bytes that are no page."""
    con = sqlite3.connect(path)
    [(page_size,)] = con.execute("PRAGMA page_size").fetchall()
    [(root,)] = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (name,)).fetchall()
    con.close()
    data = bytearray(path.read_bytes())
    data[(root - 1) * page_size:root * page_size] = b"\xa5" * page_size
    path.write_bytes(bytes(data))
