"""Contact names from an iPhone's address book (``AddressBook.sqlitedb``), offered as hints.

``ABPerson`` holds the names, ``ABMultiValue`` their phone numbers (property 3) and e-mail
addresses (property 4). A record whose other side has an entry gets ``contact_names``
(identifier -> name as the phone shows it) in its ``extra``. The names are the owner's own labels:
they are never used to decide who a party is, only shown beside the identifier.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from commtrail.parsers._sqlite import LenientText, as_input_error, columns, optional, require
from commtrail.parsers._values import as_text
from commtrail.timeline.identity import normalise_one

PHONE, EMAIL = 3, 4
NAME_PARTS = ("First", "Middle", "Last")


@dataclass
class ContactHints:
    """Normalised identifier -> the names the address book gives it."""

    names: dict[str, str] = field(default_factory=dict)

    def names_for(self, identifiers: list[str]) -> dict[str, str]:
        """The names of those identifiers the address book knows."""
        if not self.names:
            return {}
        return {i: self.names[i] for i in sorted(set(identifiers)) if i in self.names}


def read_contacts(con: sqlite3.Connection, label: str, region: str) -> ContactHints:
    """The hints of an AddressBook.sqlitedb; an identifier two entries share lists both names. A
    name or an identifier held as a BLOB is read as UTF-8, one held as a number as its digits
    (:func:`commtrail.parsers._values.as_text`)."""
    con.text_factory = text = LenientText()   # a name that is not UTF-8 is only a hint: read it as best it can be
    with as_input_error(label):
        return _read(con, label, region, text)


def _read(con: sqlite3.Connection, label: str, region: str, text: LenientText) -> ContactHints:
    require(con, label, {"ABPerson": ("ROWID",), "ABMultiValue": ("record_id", "property", "value")})
    have = columns(con, "ABPerson")
    parts = [optional(have, "p", part) for part in NAME_PARTS + ("Organization", "Nickname")]
    found: dict[str, set[str]] = {}
    for value, *name in con.execute(
            f"SELECT v.value, {', '.join(parts)} FROM ABMultiValue v JOIN ABPerson p ON p.ROWID = v.record_id "
            f"WHERE v.property IN ({PHONE}, {EMAIL}) AND v.value IS NOT NULL ORDER BY v.ROWID"):
        first, middle, last, organisation, nickname = ((as_text(n, text) or "").strip() for n in name)
        shown = " ".join(p for p in (first, middle, last) if p) or organisation or nickname
        if shown:
            found.setdefault(normalise_one(as_text(value, text), region), set()).add(shown)
    return ContactHints({ident: " / ".join(sorted(names)) for ident, names in found.items()})
