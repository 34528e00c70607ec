"""Identifiers: phone numbers to E.164, e-mail addresses, WhatsApp names, and the classes
of things that are not phone numbers (short codes, alphanumeric senders, withheld callers).

A phone number is E.164 only when it can be placed: one that needs an area code it was written
without (a US ``555-1234``) stays as its digits, ``local:5551234``, never a made-up ``+15551234``.
What the numbering plan says of each phone identifier (valid, possible, local, impossible) is
:func:`phone_check`; :func:`describe` is the one way every output shows an identifier.

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

LOCAL = "local:"    # a number that needs an area code it was written without
NOT_PHONE = "tel:"  # digits that are no possible phone number for the region

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_PHONEISH = re.compile(r"^[+(]?[\d\s().\-/]+$")
_WITHHELD_WORDS = {"", "-1", "-2", "-3", "null", "private", "private number", "withheld",
                   "unknown", "restricted", "anonymous", "no caller id", "no number"}


def kind_of(value: str) -> str:
    """The class of a normalised identifier: phone, email, whatsapp, short, alpha, withheld, other."""
    if value.startswith(("+", LOCAL)):
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


# How each class of identifier that is not an address or a name reads.
_CLASS_WORDS = {WITHHELD: "withheld number", UNKNOWN: "unknown number", PAYPHONE: "payphone", OWNER: "the owner"}

# What the numbering plan says of a phone identifier (see phone_check), in words.
PHONE_CHECKS = {
    "valid": "valid number",
    "possible": "possible number, not in a range the numbering plan allocates",
    "local": "local number, area unknown",
    "impossible": "not a possible phone number",
}


@lru_cache(maxsize=100_000)
def describe(value: str) -> str:
    """A normalised identifier as every output shows it: phones in international format
    (``+44 7700 900123``), a number without its area as its digits with "(local number, area
    unknown)", ``wa:Jordan`` as WhatsApp name “Jordan”, ``short:80800`` as short code 80800,
    ``withheld`` as "withheld number", ``payphone`` as "payphone"; e-mail addresses as they are."""
    kind = kind_of(value)
    if kind == "phone":
        if value.startswith(LOCAL):
            return f"{value[len(LOCAL):]} ({PHONE_CHECKS['local']})"
        try:
            return phonenumbers.format_number(phonenumbers.parse(value, None),
                                              phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        except phonenumbers.NumberParseException:
            return value
    if kind == "whatsapp":
        return f"WhatsApp name \u201c{value[3:]}\u201d"
    for prefix, (pkind, words) in PLATFORM_PREFIXES.items():
        if kind == pkind:
            return f"{words} \u201c{value[len(prefix):]}\u201d"
    if kind == "short":
        return f"short code {value[6:]}"
    if kind == "alpha":
        return f"sender name \u201c{value[6:]}\u201d"
    if value.startswith(NOT_PHONE):
        return f"{value[len(NOT_PHONE):]} ({PHONE_CHECKS['impossible']})"
    return _CLASS_WORDS.get(value, value)


def phone_check(value: str) -> str | None:
    """What the numbering plan (phonenumbers' metadata) says of a phone identifier: ``valid``,
    ``possible`` (a possible length, not an allocated range: fictional numbers such as 07700 900123),
    ``local`` (placed nowhere: its area code is missing) or ``impossible``; None for an identifier
    that is no phone number."""
    if value.startswith(LOCAL):
        return "local"
    if value.startswith(NOT_PHONE):
        return "impossible"
    if not value.startswith("+"):
        return None
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return "impossible"
    return "valid" if phonenumbers.is_valid_number(number) else "possible"


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
            return f"{NOT_PHONE}{digits}" if digits else WITHHELD
        reason = phonenumbers.is_possible_number_with_reason(number)
        if reason == phonenumbers.ValidationResult.IS_POSSIBLE:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if reason == phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
            return f"{LOCAL}{candidate if parse_region is None else digits}"
        return f"{NOT_PHONE}{digits}"
    return f"alpha:{value}"


def normalise_many(values: Sequence[str | None], region: str) -> list[str]:
    """Normalise a column of raw identifiers, working on its distinct values only."""
    uniques = {v: normalise_one(v, region) for v in set(values)}
    return [uniques[v] for v in values]


def check_phone(raw: str, region: str) -> str | None:
    """Normalise a phone number from case.toml (E.164, or ``local:<digits>`` for one written without
    its area code); None when it is not a possible phone number."""
    value = normalise_one(raw, region)
    return value if value.startswith(("+", LOCAL)) else None


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
