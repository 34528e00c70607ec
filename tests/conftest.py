"""Shared test helpers: a parse context and a one-call parser runner."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from commtrail.ingest.blobs import DirBlobStore
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


@pytest.fixture
def ctx_factory(tmp_path):
    def factory(**kwargs):
        return make_ctx(tmp_path, **kwargs)
    return factory


__all__ = ["FIXTURES", "make_ctx", "run_parser", "Owner"]
