"""Who is who: every identifier the master holds, and assigning one to a party in case.toml.

:func:`assign_identifier` edits case.toml with tomlkit, so the user's comments and layout stay;
the version before the edit is kept as ``case.toml.bak``. The master then follows the edit as it
follows any edit of case.toml (parties re-resolved from staging, nothing read again).
"""

from __future__ import annotations

import os
from pathlib import Path

import tomlkit

from commtrail.atomic import write_text
from commtrail.case import BACKUP_FILE, CASE_FILE, Case, load_config
from commtrail.errors import CaseError, UsageError
from commtrail.timeline.master import query_connection
from commtrail.timeline.identity import (LOCAL, PLATFORM_KEYS, describe, kind_of, normalise_one,
                                        platform_id)

# The case.toml key an identifier of each kind is listed under, and how it is written there.
_KEY_OF_KIND = {"phone": "phones", "email": "emails", "whatsapp": "whatsapp_names"}
_KEY_OF_KIND.update({kind_of(prefix + "x"): key for key, prefix in PLATFORM_KEYS.items()})
_HINT_LIMIT = 5

_ROWS_SQL = """
WITH seen AS (
    SELECT event_id, ts_utc, channel::VARCHAR AS channel, sender AS ident, sender_raw AS raw
    FROM read_parquet(?) WHERE sender IS NOT NULL
    UNION ALL
    SELECT event_id, ts_utc, channel::VARCHAR, unnest(recipients), NULL FROM read_parquet(?)
)
SELECT ident, count(DISTINCT event_id) AS n, min(ts_utc) AS first_ts, max(ts_utc) AS last_ts,
       list(DISTINCT channel ORDER BY channel) AS channels,
       list(DISTINCT raw ORDER BY raw) FILTER (WHERE raw IS NOT NULL) AS raws
FROM seen WHERE ident IS NOT NULL GROUP BY ident
"""


def _iso(ts) -> str | None:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ") if ts is not None else None


def identifier_rows(case: Case) -> list[dict]:
    """Every identifier seen in the master (as sender or recipient), one dict each: ``identifier``
    (normalised), ``label`` (as outputs show it), ``kind`` (phone, email, whatsapp, telegram,
    messenger, instagram, signal, snapchat, discord, short, alpha, withheld, owner, other),
    ``party`` (None when unassigned), ``owner`` (one of the owner's), ``assignable`` (can be
    listed for a party in case.toml), ``count`` (events), ``first_ts``/``last_ts`` (UTC ISO, Z),
    ``hints`` (channels, and the raw forms it was written in). Unassigned identifiers first, then
    the most frequent; the owner's last."""
    if not case.master_file.exists():
        return []
    path = str(case.master_file)
    con = query_connection()
    try:
        found = con.execute(_ROWS_SQL, [path, path]).fetchall()
    finally:
        con.close()
    owner = case.config.owner_ids()
    rows = []
    for ident, count, first, last, channels, raws in found:
        link = case.config.links.get(ident)
        kind = kind_of(ident)
        hints = [f"channels: {', '.join(channels)}"]
        written = [raw for raw in raws or () if raw.strip() and raw not in (ident, describe(ident))]
        if written:
            shown = ", ".join(f"\u201c{raw}\u201d" for raw in written[:_HINT_LIMIT])
            more = f" and {len(written) - _HINT_LIMIT} more" if len(written) > _HINT_LIMIT else ""
            hints.append(f"written as {shown}{more}")
        rows.append({"identifier": ident, "label": describe(ident), "kind": kind,
                     "party": link.party if link else None, "owner": ident in owner,
                     "assignable": kind in _KEY_OF_KIND and ident not in owner, "count": count,
                     "first_ts": _iso(first), "last_ts": _iso(last), "hints": hints})
    rows.sort(key=lambda r: (r["owner"], r["party"] is not None, -r["count"], r["identifier"]))
    return rows


def identifier_of(case: Case, text: str) -> str:
    """The normalised identifier a user typed: ``wa:Name``, ``tg:user123`` and the other platform
    prefixes as they are; phone numbers and e-mail addresses normalised for the case's region."""
    value = text.strip()
    if value.startswith("wa:"):
        return value
    for key, prefix in PLATFORM_KEYS.items():
        if value.startswith(prefix):
            return platform_id(key, value[len(prefix):])   # as case.toml's entries are read
    return normalise_one(value, case.config.phone_region)


def _written_form(ident: str) -> str:
    """How an identifier is written in its case.toml list."""
    kind = kind_of(ident)
    if kind == "phone":
        return ident[len(LOCAL):] if ident.startswith(LOCAL) else describe(ident)
    if kind == "whatsapp":
        return ident[3:]
    for key, prefix in PLATFORM_KEYS.items():
        if ident.startswith(prefix):
            return ident[len(prefix):]
    return ident


def _refuse(message: str, hint: str) -> UsageError:
    return UsageError(message, hint=hint)


def _edited(text: str, party: str, key: str, value: str) -> str:
    """case.toml's text with ``value`` added to ``key`` of the party's block (a new block at the end
    of the parties when there is none); comments and layout kept."""
    doc = tomlkit.parse(text)
    blocks = doc.get("party")
    if blocks is None:
        blocks = tomlkit.aot()
        if not text.endswith("\n\n"):
            doc.add(tomlkit.nl())
        doc["party"] = blocks
    for block in blocks:
        if block.get("name") == party:
            current = block.get(key)
            if current is None:
                block[key] = [value]
            elif isinstance(current, str):
                block[key] = [str(current), value]
            else:
                current.append(value)
            return tomlkit.dumps(doc)
    block = tomlkit.table()
    block["name"] = party
    block[key] = [value]
    block.add(tomlkit.nl())
    blocks.append(block)
    return tomlkit.dumps(doc)


def assign_identifier(case: Case, identifier: str, party: str) -> str:
    """List ``identifier`` for ``party`` in case.toml (a new ``[[party]]`` for a new name; a name
    that differs from a party's only in case is that party), keep the previous case.toml as
    case.toml.bak, make the master follow; a one-line message saying what was done. Refuses
    (UsageError) the owner's identifiers, one listed for another party, and identifiers that
    case.toml cannot list (short codes, sender names, withheld numbers)."""
    from commtrail.pipeline import follow_case_toml

    party = party.strip()
    if not party:
        raise _refuse("the party's name is empty.", "Give the name of a person, e.g. \"Jordan\".")
    path = case.root / CASE_FILE
    with case.lock():
        case.config = load_config(path)   # as it is now (a long-running caller may hold an older one)
        ident = identifier_of(case, identifier)
        label = describe(ident)
        if ident in case.config.owner_ids():
            raise _refuse(f"{label} is one of the owner's ({case.config.owner_name}) identifiers, not a party's.",
                          "The owner's identifiers are set under [owner] in case.toml; edit it there if this is "
                          "wrong.")
        key = _KEY_OF_KIND.get(kind_of(ident))
        if key is None:
            raise _refuse(f"{label} cannot be listed for a party in case.toml: only phone numbers, e-mail "
                          "addresses, WhatsApp names and platform accounts can.",
                          "Write a WhatsApp name as wa:NAME and a platform account with its prefix (tg:, fb:, "
                          "ig:, signal:, snap:, discord:).")
        # a name written in another case is the party already there (as the incident log reads names)
        party = next((p.name for p in case.config.parties if p.name.lower() == party.lower()), party)
        link = case.config.links.get(ident)
        if link is not None and link.party != party:
            raise _refuse(f"{label} is already listed for {link.party} (case.toml line {link.line}, {link.key}).",
                          f"An identifier belongs to one party only; remove it from {link.party} first.")
        if link is not None:
            return f"{label} is already listed for {party} (case.toml line {link.line}); nothing changed."
        text = path.read_text(encoding="utf-8")
        new_text = _edited(text, party, key, _written_form(ident))
        _check(case.root, new_text)
        new = "" if any(p.name == party for p in case.config.parties) else " (a new [[party]] block)"
        write_text(text, case.root / BACKUP_FILE)
        write_text(new_text, path)
        case.config = load_config(path)
        follow = follow_case_toml(case, (case.root / BACKUP_FILE,))
    then = "; the master's parties were re-resolved" if follow.rebuild else ""
    return (f"{label} is now listed for {party}{new} under {key} in case.toml (the previous version is "
            f"{BACKUP_FILE}){then}.")


def _check(root: Path, text: str) -> None:
    """Validate the edited case.toml before it replaces the user's (a temporary file beside it)."""
    probe = root / f".{CASE_FILE}.tmp-{os.getpid()}"
    try:
        probe.write_text(text, encoding="utf-8")
        load_config(probe)
    except CaseError as exc:
        raise CaseError(f"the edit would make case.toml invalid ({exc.message}); nothing was changed.",
                        file=str(root / CASE_FILE)) from None
    finally:
        probe.unlink(missing_ok=True)
