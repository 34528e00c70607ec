"""The one table of parsers. Each parser module registers itself in its last line."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Union

import pyarrow as pa

if TYPE_CHECKING:
    from commtrail.parsers.base import ParseContext, Reject

ParseOutput = Union[pa.RecordBatch, "Reject"]

SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class Parser:
    """A source format: its name, version, a cheap content sniff and a streaming parse."""

    name: str
    version: str
    description: str
    sniff: Callable[[bytes, str], bool]
    parse: Callable[[BinaryIO, "ParseContext"], Iterator[ParseOutput]]
    # Lower runs first when several parsers could claim the same bytes.
    priority: int = 50
    # True when the format names other files (media beside a chat export, evidence beside an
    # incident log): files of no known format beside it are its attachments, not failed inputs.
    uses_siblings: bool = False
    # True when a file of this format may be another input's attachment (media): ingest parses it
    # after the other inputs of its folder, and only when none of them named it.
    after_siblings: bool = False

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}"


_REGISTRY: dict[str, Parser] = {}


def register(parser: Parser) -> Parser:
    """Add a parser to the table; a second parser with the same name is refused."""
    if parser.name in _REGISTRY:
        raise ValueError(f"parser {parser.name!r} is registered twice")
    _REGISTRY[parser.name] = parser
    return parser


def get(name: str) -> Parser:
    """The parser registered as ``name``."""
    return _REGISTRY[name]


def all_parsers() -> list[Parser]:
    """Every registered parser, in sniffing order."""
    return sorted(_REGISTRY.values(), key=lambda p: (p.priority, p.name))


def sniff(head: bytes, filename: str) -> Parser | None:
    """The first parser that claims these bytes, or None for an unknown format."""
    for parser in all_parsers():
        if parser.sniff(head, filename):
            return parser
    return None
