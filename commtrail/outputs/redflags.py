"""Red-flag phrases: the list (case.toml or the default data file) and where the texts contain them.

A phrase matches as whole words, in any case; a straight apostrophe also matches the curly ones
phones type, and a space matches any run of white space. Every matching text is reported verbatim.
The search is two-stage so that no Python runs per row: one RE2 pass over every text with all
phrases (no word boundaries, so it finds a superset), then each phrase on the few candidates, and
Python's Unicode-aware word boundaries on the candidate pairs only.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from commtrail.case import CaseConfig

DATA_FILE = "red_flags.toml"
APOSTROPHES = "'\u2019\u02bc\u2018"


@dataclass(frozen=True)
class Phrase:
    text: str
    group: str        # "threat", "surveillance", ... or "case.toml" for a case's own list


def default_phrases() -> list[Phrase]:
    """The default phrase list shipped in commtrail/data/red_flags.toml."""
    data = tomllib.loads(resources.files("commtrail.data").joinpath(DATA_FILE).read_text(encoding="utf-8"))
    out: list[Phrase] = []
    for group in data.get("group", []):
        out.extend(Phrase(p, group["name"]) for p in group["phrases"])
    return out


def phrase_list(config: CaseConfig) -> tuple[list[Phrase], str]:
    """The phrases of a case and where they come from (for the report)."""
    if config.red_flags is not None:
        seen: dict[str, Phrase] = {}
        for text in config.red_flags:
            if text.strip():
                seen.setdefault(text.strip().casefold(), Phrase(text.strip(), "case.toml"))
        return list(seen.values()), "case.toml [analysis] red_flags"
    return default_phrases(), "the default list (commtrail/data/red_flags.toml)"


def _body(phrase: str) -> str:
    """A regex for the phrase's characters that both RE2 and Python read the same way."""
    out = []
    for token in re.findall(r"\s+|.", phrase.strip(), flags=re.S):
        if token.isspace():
            out.append(r"\s+")
        elif token in APOSTROPHES:
            out.append("[" + APOSTROPHES + "]")
        elif token.isalnum() or ord(token) > 127:
            out.append(token)
        else:
            out.append("\\" + token)
    return "".join(out)


def python_pattern(phrase: str) -> re.Pattern[str]:
    """The exact test: whole words, any case."""
    return re.compile(r"(?<!\w)" + _body(phrase) + r"(?!\w)", re.IGNORECASE)


@dataclass
class TextHit:
    index: int                # position in the searched array
    phrases: list[Phrase]     # every phrase found in it, in list order


def find_hits(texts: pa.Array, phrases: list[Phrase]) -> list[TextHit]:
    """The texts (by position) that contain at least one phrase."""
    phrases = [p for p in phrases if p.text.strip()]
    if not phrases or not len(texts):
        return []
    bodies = [_body(p.text) for p in phrases]
    coarse = pc.match_substring_regex(texts, "|".join(f"(?:{b})" for b in bodies), ignore_case=True)
    candidates = np.flatnonzero(coarse.fill_null(False).to_numpy(zero_copy_only=False))
    if not len(candidates):
        return []
    # the same text often comes many times ("Answer me"): each distinct candidate text is tested once
    encoded = pc.dictionary_encode(texts.take(pa.array(candidates)))
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    distinct, which = encoded.dictionary, encoded.indices.to_numpy(zero_copy_only=False)
    found: dict[int, list[Phrase]] = {}
    for phrase, body in zip(phrases, bodies):
        mask = pc.match_substring_regex(distinct, body, ignore_case=True).fill_null(False)
        where = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
        if not len(where):
            continue
        exact = python_pattern(phrase.text)
        for i, text in zip(where.tolist(), distinct.take(pa.array(where)).to_pylist()):
            if exact.search(text):
                found.setdefault(i, []).append(phrase)
    hits = [TextHit(int(candidates[k]), found[int(d)]) for k, d in enumerate(which.tolist()) if int(d) in found]
    return hits
