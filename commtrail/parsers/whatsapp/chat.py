"""Which conversation a WhatsApp export holds, told from its content, not from its file name.

Dedup keys a WhatsApp record by its author, minute and text within this identity, so that one chat
exported twice is one set of events whatever its files are called, while two chats stay apart
(README, "How a conversation is identified"):

- a group (two or more people other than the owner write, or a system line reports a group event):
  its first system line, minute and text (WhatsApp writes it when the chat begins on the phone:
  the encryption notice, "X created group", "X added you"); with no system line, the people who
  write in it;
- a one-to-one chat: the other person (phone number or WhatsApp name, as in ``sender``);
- a chat where only the owner writes: the chat's name, from the content (iOS writes it as the author
  of its notices) or from WhatsApp's own file name (``WhatsApp Chat with NAME``), taken as the other
  person; with neither, the file alone (its SHA-256: never merged with another file).

A phone's WhatsApp database (:mod:`commtrail.parsers.ios.whatsapp_db`,
:mod:`commtrail.parsers.android.msgstore`) gives a one-to-one chat the same identity (the other
person), and a group its group JID (:func:`group_jid_identity`), which an export does not show. A
group export also records its name (``chat_name``, :data:`CHAT_NAME`) so that dedup can link it to
the database's group of that name (``timeline/dedup.py``, "Group chats").
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache

from commtrail.parsers.whatsapp import headers as wf
from commtrail.timeline.identity import normalise_many

CHAT_NAME = "chat_name"         # extra: a group export's name, a database chat's subject
_PHONE_NAME = re.compile(r"^\+[0-9 ()\-\u00a0\u2011\u202f.]{6,}$")


@lru_cache(maxsize=1)
def group_events_re2() -> str:
    """RE2: the text of a system line (after invisible marks) reports a group event."""
    w = wf.wording()
    inner = "|".join(f"(?:{p.removeprefix('^').removesuffix('$')})" for p in w.group_events)
    return "^" + wf.re2_class(w.marks) + "*(?:" + inner + ")$"


def chat_identity(*, others: Sequence[str], group_event: bool, opening: tuple[int, str] | None,
                  named: str | None, source_sha256: str) -> str:
    """The identity of one export.

    ``others``: identifiers of the people other than the owner who write messages (sorted, distinct);
    ``group_event``: a system line reports a group event; ``opening``: (UTC minute, text without
    invisible marks) of the first system line; ``named``: the identifier the chat's name gives
    (None when neither content nor a WhatsApp file name gives one)."""
    if len(others) >= 2 or group_event:
        if opening is not None:
            minute, text = opening
            digest = hashlib.md5(f"{minute}\x1f{text}".encode("utf-8"), usedforsecurity=False).hexdigest()
            return f"group:{digest}"
        return "group-of:" + "~".join(others)
    if others:
        return f"one-to-one:{others[0]}"
    if named:
        return f"one-to-one:{named}"
    return f"file:{source_sha256}"


def is_group(identity: str) -> bool:
    """Whether an export's identity (:func:`chat_identity`) is a group's."""
    return identity.startswith(("group:", "group-of:"))


def group_jid_identity(jid: str) -> str:
    """The identity of a group chat read from a WhatsApp database: its group JID (``...@g.us``),
    which stays the same in every backup of the phone (an export does not show it)."""
    return f"group-jid:{jid}"


def sender_ids(names: list[str], region: str) -> list[str]:
    """The ``sender`` of each author name as WhatsApp writes it: a name that is a phone number
    (``+44 7700 900123``) as E.164, any other as ``wa:NAME``."""
    phones = [nm for nm in names if _PHONE_NAME.match(nm)]
    mapped = dict(zip(phones, normalise_many(phones, region))) if phones else {}
    out = []
    for nm in names:
        ident = mapped.get(nm)
        out.append(ident if ident and ident.startswith("+") else f"wa:{nm}")
    return out
