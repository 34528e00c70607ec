"""What makes a record a contact: the one rule every output counts by.

A contact is a message, call or e-mail that went from one person to the other. Not contacts:
system lines (kind ``system``), the owner's incident log (channel or kind ``incident``), and
messages that never left the phone or mailbox — flagged ``draft``, ``outbox``, ``failed`` or
``queued`` by their parser. Those stay in the master and in every listing with their flag; the
figures count them apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Flags of a message that was never sent, in the order the report names them.
NOT_SENT = ("draft", "failed", "queued", "outbox")
NOT_CONTACT_KINDS = ("system", "incident")
INCIDENT = "incident"


@dataclass
class RowClasses:
    """Per row of a table: contact or not, incident or not, and which never-sent flag it has."""

    contact: np.ndarray     # bool
    incident: np.ndarray    # bool
    unsent: np.ndarray      # int8: index into NOT_SENT, -1 when the row was sent


def classify(table: pa.Table) -> RowClasses:
    """Apply the rule to every row of ``table`` (which holds at least ``channel``, ``kind`` and ``flags``)."""
    rows = table.num_rows
    if not rows:
        empty = np.zeros(0, bool)
        return RowClasses(empty, empty, np.zeros(0, np.int8))
    incident = _among(table["channel"], (INCIDENT,)) | _among(table["kind"], (INCIDENT,))
    system = _among(table["kind"], NOT_CONTACT_KINDS)
    unsent = unsent_codes(table["flags"])
    return RowClasses(~incident & ~system & (unsent < 0), incident, unsent)


def unsent_codes(flags: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Per row of a ``flags`` column: the index in :data:`NOT_SENT` of its first never-sent flag, or -1."""
    chunks = flags.chunks if isinstance(flags, pa.ChunkedArray) else [flags]
    out = np.full(len(flags), -1, dtype=np.int8)
    offset = 0
    wanted = pa.array(NOT_SENT, pa.string())
    for chunk in chunks:
        flat = pc.list_flatten(chunk)
        if len(flat):
            which = np.asarray(pc.index_in(flat, value_set=wanted).fill_null(-1).to_numpy(zero_copy_only=False))
            parent = np.asarray(pc.list_parent_indices(chunk).to_numpy(zero_copy_only=False), dtype=np.int64)
            hit = np.flatnonzero(which >= 0)[::-1]          # reversed: the first flag of a row is written last
            out[offset + parent[hit]] = which[hit]
        offset += len(chunk)
    return out


def _among(column: pa.ChunkedArray, values: tuple[str, ...]) -> np.ndarray:
    """Per row: the value is one of ``values`` (null is not). A dictionary column is tested on its
    dictionary, then mapped through the indices."""
    parts = []
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            hit = np.r_[np.isin(np.asarray(chunk.dictionary.to_pylist(), dtype=object), values), False]
            parts.append(hit[np.asarray(chunk.indices.fill_null(-1).to_numpy(zero_copy_only=False))])
        else:
            mask = pc.is_in(chunk, pa.array(values, pa.string())).fill_null(False)
            parts.append(np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool))
    return np.concatenate(parts) if parts else np.zeros(0, bool)
