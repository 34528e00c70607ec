"""What of case.toml the master was built with, and what an edit made since then asks for.

The master records (in its Parquet metadata) the parts of case.toml it depends on, so a command
that reads it can tell whether case.toml changed since:

- **Parties and identifier links** (every ``[[party]]`` block) are applied when the master is
  built: after an edit the master is rebuilt from staging (nothing is parsed again; event ids and
  exhibit numbers do not depend on them), giving the bytes a fresh case would have.
- **Time zone, phone region and the owner's identifiers** were applied when each source was read
  (local times, numbers without a country code, who sent what). A change is refused while sources
  it would read differently are in the case: commtrail cannot re-read them alone (a chat's media
  and an incident log's evidence files are read from beside the input, which the case does not keep).
- **date_order** only settles files whose content cannot tell; it applies to files ingested after
  the edit, and the files already read keep the order they were read in (a notice says so).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from commtrail.case import CaseConfig, TomlLines
from commtrail.errors import CaseError
from commtrail.timeline.identity import PLATFORM_KEYS

METADATA_KEY = b"commtrail.case_toml"

# The settings applied when a source is read: key -> (case.toml table, key in it).
# The owner's platform accounts tell those parsers which messages are the owner's (their direction);
# each is read by its own format only.
OWNER_PLATFORM_READERS = {"telegram_ids": frozenset({"telegram"}), "messenger_names": frozenset({"meta"}),
                          "instagram_names": frozenset({"meta"}), "discord_ids": frozenset({"discord"})}
ONLY_READ_BY = {f"owner.{key}": readers for key, readers in OWNER_PLATFORM_READERS.items()}
READ_SETTINGS = {
    "timezone": ("case", "timezone"),
    "phone_region": ("case", "phone_region"),
    "owner.phones": ("owner", "phones"),
    "owner.emails": ("owner", "emails"),
    "owner.whatsapp_names": ("owner", "whatsapp_names"),
    **{f"owner.{key}": ("owner", key) for key in OWNER_PLATFORM_READERS},
}
# Formats whose reading a setting does not change (every other format, a new one included, is
# taken to depend on it). The time zone and the phone region matter to every format.
NOT_READ_BY = {
    "owner.phones": frozenset({"whatsapp", "eml", "mbox", "incident-log"}),
    "owner.emails": frozenset({"whatsapp", "smsbr-sms", "smsbr-calls", "incident-log", "android-sms", "android-calls",
                               "android-whatsapp"}),
    "owner.whatsapp_names": frozenset({"smsbr-sms", "smsbr-calls", "eml", "mbox", "incident-log", "android-sms",
                                       "android-calls"}),
    "date_order": frozenset({"smsbr-sms", "smsbr-calls", "eml", "mbox", "android-sms", "android-calls",
                             "android-whatsapp"}),
}


def settings_of(config: CaseConfig) -> dict:
    """The parts of case.toml the master depends on, normalised (order and spelling of the file
    do not matter; the links as a digest of every identifier and its party)."""
    owner = config.owner()
    links = json.dumps(sorted([ident, link.party] for ident, link in config.links.items()),
                       ensure_ascii=False, separators=(",", ":"))
    return {
        "links": hashlib.sha256(links.encode()).hexdigest(),
        "timezone": config.timezone,
        "phone_region": config.phone_region,
        "date_order": config.date_order,
        "owner.phones": sorted(owner.phones),
        "owner.emails": sorted(owner.emails),
        "owner.whatsapp_names": sorted(owner.whatsapp_names),
        **{f"owner.{key}": sorted(i for i in owner.platform_ids if i.startswith(PLATFORM_KEYS[key]))
           for key in OWNER_PLATFORM_READERS},
    }


def metadata_of(config: CaseConfig) -> dict[bytes, bytes]:
    """The master's Parquet metadata recording ``settings_of(config)``."""
    return {METADATA_KEY: json.dumps(settings_of(config), ensure_ascii=False, sort_keys=True,
                                     separators=(",", ":")).encode()}


def recorded_settings(metadata: dict[bytes, bytes] | None) -> dict | None:
    """The settings a master was built with (None: built before they were recorded)."""
    raw = (metadata or {}).get(METADATA_KEY)
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@dataclass
class Followup:
    """What an edit of case.toml since the master was built asks for."""

    rebuild: bool = False                       # re-resolve parties: rebuild the master from staging
    notes: list[str] = field(default_factory=list)


def _reads(key: str, formats: Iterable[str]) -> list[str]:
    if key in ONLY_READ_BY:
        return sorted(f for f in set(formats) if f in ONLY_READ_BY[key])
    return sorted(f for f in set(formats) if f not in NOT_READ_BY.get(key, frozenset()))


def _shown(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def followup(config: CaseConfig, toml_text: str, toml_path: str, recorded: dict | None,
             formats: Iterable[str]) -> Followup:
    """Compare case.toml with what the master was built with. ``formats`` are the formats of the
    sources in the case. Raises CaseError (naming the key and its line) for an edit that would need
    sources read again; nothing is changed then."""
    if recorded is None:
        return Followup(rebuild=True)
    current = settings_of(config)
    formats = list(formats)
    lines = TomlLines(toml_text)
    for key, (table, name) in READ_SETTINGS.items():
        if recorded.get(key, [] if key in ONLY_READ_BY else None) == current[key]:
            continue   # (a master built before platform accounts were recorded had none to record)
        readers = _reads(key, formats)
        if not readers:
            continue
        line = lines.find(table, None, name) or lines.find(table, None, None)
        where = f"line {line}, [{table}] {name}" if line else f"[{table}] {name}"
        raise CaseError(
            f"{name} was {_shown(recorded.get(key))} when the sources in this case were read and is now "
            f"{_shown(current[key])}. It decided how they were read ({', '.join(readers)}), so the change "
            "needs them read again, which commtrail does not do on its own; nothing was changed.",
            file=toml_path, where=where,
            hint=f"Put back {name} = {_shown(recorded.get(key))}, or make a new case with the edited case.toml "
                 "(commtrail init NEW, copy case.toml into it) and ingest the same inputs into it again.")
    notes = []
    if recorded.get("date_order") != current["date_order"]:
        readers = _reads("date_order", formats)
        if readers:
            notes.append(f"case.toml: date_order is now {_shown(current['date_order'])} (it was "
                         f"{_shown(recorded.get('date_order'))}); it applies to files ingested from now on. "
                         "Files already in the case keep the order they were read in (their warnings say how "
                         "it was decided).")
    return Followup(rebuild=recorded != current, notes=notes)
