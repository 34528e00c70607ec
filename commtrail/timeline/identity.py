"""Identifiers: phone numbers to E.164, e-mail addresses, WhatsApp names, and the classes
of things that are not phone numbers (short codes, alphanumeric senders, withheld callers).

Normalisation runs on distinct values only (factorise, normalise the uniques, map back).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

WITHHELD = "withheld"
UNKNOWN = "unknown"
PAYPHONE = "payphone"
OWNER = "owner"   # the owner when their own number is not known (an MMS's insert-address-token)
CLASS_VALUES = (WITHHELD, UNKNOWN, PAYPHONE)

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_PHONEISH = re.compile(r"^[+(]?[\d\s().\-/]+$")
_WITHHELD_WORDS = {"", "-1", "-2", "-3", "null", "private", "private number", "withheld",
                   "unknown", "restricted", "anonymous", "no caller id", "no number"}


def kind_of(value: str) -> str:
    """The class of a normalised identifier: phone, email, whatsapp, short, alpha, withheld, other."""
    if value.startswith("+"):
        return "phone"
    if value == OWNER:
        return "owner"
    if value.startswith("wa:"):
        return "whatsapp"
    for prefix, (kind, _) in PLATFORM_PREFIXES.items():
        if value.startswith(prefix):
            return kind
    if value.startswith("short:"):
        return "short"
    if value.startswith("alpha:"):
        return "alpha"
    if value in CLASS_VALUES:
        return "withheld"
    if "@" in value:
        return "email"
    return "other"


def describe(value: str) -> str:
    """A normalised identifier in words, the class prefix dropped: ``wa:Jordan`` is WhatsApp name
    “Jordan”, ``short:80800`` short code 80800. Phones and withheld classes come back as they are
    (each output formats them its own way)."""
    kind = kind_of(value)
    if kind == "whatsapp":
        return f"WhatsApp name \u201c{value[3:]}\u201d"
    for prefix, (pkind, words) in PLATFORM_PREFIXES.items():
        if kind == pkind:
            return f"{words} \u201c{value[len(prefix):]}\u201d"
    if kind == "short":
        return f"short code {value[6:]}"
    if kind == "alpha":
        return f"sender name \u201c{value[6:]}\u201d"
    if value.startswith("tel:"):
        return value[4:]
    return value


@lru_cache(maxsize=200_000)
def normalise_one(raw: str | None, region: str) -> str:
    """Normalise one raw identifier (phone, e-mail, short code, sender name) for ``region``."""
    if raw is None:
        return WITHHELD
    value = raw.strip()
    if value.lower() in _WITHHELD_WORDS:
        return WITHHELD
    if value.startswith("wa:"):
        return value
    if value.lower().startswith("mailto:"):
        value = value[7:]
    if _EMAIL.match(value):
        return value.lower()
    if _PHONEISH.match(value):
        digits = re.sub(r"\D", "", value)
        if value.startswith("+") or value.startswith("00"):
            candidate = "+" + digits[2:] if value.startswith("00") else "+" + digits
            parse_region = None
        else:
            candidate = value
            parse_region = region
        if not value.startswith("+") and not value.startswith("00") and 3 <= len(digits) <= 6:
            return f"short:{digits}"
        try:
            number = phonenumbers.parse(candidate, parse_region)
        except phonenumbers.NumberParseException:
            return f"tel:{digits}" if digits else WITHHELD
        if phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return f"tel:{digits}"
    return f"alpha:{value}"


def normalise_many(values: Sequence[str | None], region: str) -> list[str]:
    """Normalise a column of raw identifiers, working on its distinct values only."""
    uniques = {v: normalise_one(v, region) for v in set(values)}
    return [uniques[v] for v in values]


def check_phone(raw: str, region: str) -> str | None:
    """Normalise a phone number from case.toml; None when it is not a possible phone number."""
    value = normalise_one(raw, region)
    return value if value.startswith("+") else None


def split_addresses(raw: str | None) -> list[str]:
    """Split an MMS ``address`` list joined with ``~`` (and stray spaces or commas)."""
    if not raw:
        return []
    return [part.strip() for part in re.split(r"[~,]", raw) if part.strip()]


def whatsapp_id(name: str) -> str:
    """The identifier of a WhatsApp display name."""
    return f"wa:{name}"


# Platform accounts: identifier prefix -> (kind, words), and the case.toml key listing them.
PLATFORM_PREFIXES = {
    "tg:": ("telegram", "Telegram account"),
    "fb:": ("messenger", "Messenger name"),
    "ig:": ("instagram", "Instagram name"),
    "signal:": ("signal", "Signal account"),
    "snap:": ("snapchat", "Snapchat username"),
    "discord:": ("discord", "Discord user id"),
}
PLATFORM_KEYS = {"telegram_ids": "tg:", "messenger_names": "fb:", "instagram_names": "ig:", "signal_ids": "signal:",
                 "snapchat_names": "snap:", "discord_ids": "discord:"}


def platform_id(key: str, raw: str) -> str:
    """The identifier of a platform account listed under case.toml ``key`` (a PLATFORM_KEYS key).

    A Telegram id may be written as the export writes it (``user123``) or as the bare number."""
    prefix = PLATFORM_KEYS[key]
    value = raw.strip()
    if prefix == "tg:" and value.isdigit():
        value = f"user{value}"
    return prefix + value


def lower_emails(values: Iterable[str]) -> frozenset[str]:
    """Lower-case e-mail addresses."""
    return frozenset(v.strip().lower() for v in values)


@dataclass
class Owner:
    """The owner's identifiers, already normalised (E.164 phones, lower-case e-mails)."""

    name: str = ""
    phones: frozenset[str] = frozenset()
    emails: frozenset[str] = frozenset()
    whatsapp_names: frozenset[str] = frozenset()
    # Platform account identifiers (``tg:user123``, ``fb:Sam Smith``, ...; see PLATFORM_KEYS).
    platform_ids: frozenset[str] = frozenset()
