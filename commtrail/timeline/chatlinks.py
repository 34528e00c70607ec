"""Which WhatsApp group export is which group of a phone's WhatsApp database (table ``chat_links``).

A database knows a group by its JID (``group-jid:``), which an export never shows; an export knows a
group by its first system line (``group:``) or its writers (``group-of:``), which a database does not
hold as text (``parsers/whatsapp/chat.py``). Both know the group's name (the database's subject; an
export's name from its notices, on iOS, or WhatsApp's own file name) and the people who write in it.
An export's group is linked to a database's group, and its records keyed with that group's identity
(so the same message from both is one event), when:

- a database of the case holds a group of that name and no database holds another group of that name;
- at least one person other than the owner writes in the export, and each of them is a member of the
  database's group or writes in it there.

Anything else stays apart: two groups of one name in the databases, an export with a writer the
database's group does not know (a different group of the same name), an export without a name. Two
different groups of one name with the same people cannot be told apart by what both hold: they are
linked (README, "How a conversation is identified").

A link depends on other sources, unlike the rest of a record's key: a source's key file records its
group chats (``groups``: identity, name, people) and the links it was keyed with (``links``), and a
build keys a source again when its links change (``timeline/dedup.py``). A link never changes an
exhibit number handed over: a source that holds a produced event keeps the links it had, and one
whose events without the link were produced is not linked (:func:`pin`), so an export produced
before its database came stays apart from it.
"""

from __future__ import annotations

import duckdb

DATABASE_GROUP = "^(group-jid|wa-group):"     # wa-group: as android-whatsapp/1 staged it
EXPORT_GROUP = "^group(-of)?:"
ANY_GROUP = "^(group|group-of|group-jid|wa-group):"


def facts_sql(extra_of: str) -> str:
    """SQL (over a query with ``src``, ``conversation``, ``chat``, ``x`` (an ``extra``) and
    ``senders`` (the writers other than the owner)) giving a group chat's ``name`` (trimmed, NFC: a
    file system may store a file name decomposed) and ``people`` (NULL for other chats)."""
    return f"""SELECT src, conversation, chat,
        CASE WHEN regexp_matches(chat, '{ANY_GROUP}') THEN nullif(nfc_normalize(trim(coalesce(
            json_extract_string(x, '$.chat_name'), json_extract_string(x, '$.subject')))), '') END AS name,
        CASE WHEN regexp_matches(chat, '{ANY_GROUP}') THEN list_sort(list_distinct(list_concat(
            coalesce(json_extract(x, '$.group_members')::VARCHAR[], []::VARCHAR[]),
            coalesce(senders, []::VARCHAR[])))) END AS people
        FROM ({extra_of})"""


def resolve(con: duckdb.DuckDBPyConnection, kept: dict[int, dict]) -> dict[int, list[list[str]]]:
    """Link export groups to database groups (table ``chat_links``: chat -> target) from the group
    chats of ``chat_ids`` (sources read from staging) and of ``kept`` (key files' ``groups``, table
    ``group_facts``); returns the links of each source: [[chat, target], ...] sorted."""
    con.execute("""CREATE TEMP TABLE group_facts AS
        SELECT src, chat, name, people FROM chat_ids WHERE people IS NOT NULL""")
    rows = [(index, chat, name, people) for index, facts in kept.items()
            for chat, name, people in facts.get("groups", [])]
    if rows:
        con.executemany("INSERT INTO group_facts VALUES (?, ?, ?, ?)", rows)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE chat_links AS
        WITH db AS (SELECT chat, list(DISTINCT name) AS names, list_distinct(flatten(list(people))) AS people
                    FROM group_facts WHERE regexp_matches(chat, '{DATABASE_GROUP}') GROUP BY chat),
             sole AS (SELECT name, min(chat) AS chat FROM (SELECT chat, unnest(names) AS name FROM db)
                      WHERE name IS NOT NULL GROUP BY name HAVING count(DISTINCT chat) = 1),
             ex AS (SELECT chat, list(DISTINCT name) AS names, list_distinct(flatten(list(people))) AS people
                    FROM group_facts WHERE regexp_matches(chat, '{EXPORT_GROUP}') GROUP BY chat),
             cand AS (SELECT e.chat, s.chat AS target
                      FROM (SELECT chat, unnest(names) AS name, people FROM ex) e
                      JOIN sole s USING (name) JOIN db d ON d.chat = s.chat
                      WHERE len(e.people) > 0 AND list_has_all(d.people, e.people))
        SELECT chat, min(target) AS target FROM cand GROUP BY chat HAVING count(DISTINCT target) = 1""")
    return by_source(con)


def pin(con: duckdb.DuckDBPyConnection, recorded: list[dict]) -> dict[int, list[list[str]]]:
    """Keep the links the key files ``recorded`` (facts with ``groups`` and ``links``) were made
    with, for their group chats; returns the links of each source as :func:`resolve` does."""
    for facts in recorded:
        chats = [group[0] for group in facts.get("groups", [])]
        if chats:
            con.execute("DELETE FROM chat_links WHERE list_contains(?, chat)", [chats])
        for chat, target in facts.get("links", []):
            con.execute("DELETE FROM chat_links WHERE chat = ?", [chat])
            con.execute("INSERT INTO chat_links VALUES (?, ?)", [chat, target])
    return by_source(con)


def by_source(con: duckdb.DuckDBPyConnection) -> dict[int, list[list[str]]]:
    """The links of each source's group chats: [[chat, target], ...] sorted."""
    rows = con.execute("""SELECT g.src, list([g.chat, l.target] ORDER BY g.chat)
        FROM (SELECT DISTINCT src, chat FROM group_facts) g JOIN chat_links l USING (chat) GROUP BY g.src""")
    return {src: [list(pair) for pair in links] for src, links in rows.fetchall()}


def groups_of(con: duckdb.DuckDBPyConnection, src: int) -> list[list]:
    """A source's group chats for its key file: [[identity, name, people], ...] sorted."""
    return [[chat, name, list(people)] for chat, name, people in con.execute(
        "SELECT DISTINCT chat, name, people FROM group_facts WHERE src = ? ORDER BY chat, name NULLS FIRST",
        [src]).fetchall()]
