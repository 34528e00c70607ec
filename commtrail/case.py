"""The case directory and its case.toml: loading, validation with line numbers, paths."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers

from commtrail.errors import CaseError
from commtrail.timeline.identity import (PLATFORM_KEYS, Owner, check_phone, lower_emails, platform_id,
                                        whatsapp_id)

EVENT_KINDS = ("no_contact_request", "blocked", "order_served", "police_report", "incident", "other")
DATE_ORDERS = ("DMY", "MDY", "YMD")
CASE_FILE = "case.toml"
BACKUP_FILE = "case.toml.bak"   # case.toml before the tool's last edit of it (commtrail assign)
# The user's working files, not evidence: case.toml (and case.toml.bak, its version before the
# tool's last edit) and the incident-log folder `init` makes (the log and the evidence files it
# names, which the user keeps editing and adding to). ``verify`` reports changes to them as edits,
# not failures; ingest reads inputs from that folder.
INCIDENT_DIR = "incident-log"
INCIDENT_TEMPLATE = f"{INCIDENT_DIR}/incidents.csv"
LOCK_FILE = ".lock"
# Present while an ingest has changed staging but not yet rebuilt the master and the manifest;
# an ingest that finds it (left by an interrupted one) rebuilds them.
PENDING_FILE = ".pending"

# Temporary files of the tool's own writers, none of them evidence: atomic writes
# (``.<name>.tmp-<pid>``), input copies (``originals/.incoming-<pid>``), blobs being written
# (``blobs/.tmp-*``), copies of nested archives (``.tmp/``) and the dedup database (``.duckdb-tmp/``).
_PID_TEMP = re.compile(r"^(?:.*/)?(?:\.[^/]*\.tmp-|\.incoming-)(\d+)$")
_OTHER_TEMP = re.compile(r"^(?:blobs/\.tmp-[^/]+|\.tmp/.+|\.duckdb-tmp/.+)$")
_HEX64 = re.compile(r"^([0-9a-f]{64})$")
_STAGED = re.compile(r"^([0-9a-f]{64})(?:\.rejects)?\.parquet$")


def is_temporary(rel: str) -> bool:
    """Whether a path relative to the case is one of the tool's temporary files."""
    return bool(_PID_TEMP.match(rel) or _OTHER_TEMP.match(rel))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True   # it exists but belongs to someone else
    return True


def private_umask() -> None:
    """Files and folders this process creates are readable by the user alone (0600/0700)."""
    os.umask(os.umask(0o077) | 0o077)


@dataclass(frozen=True)
class ArchiveLimits:
    """Refuse archive members that expand too much (zip bombs) and archives too large in total."""

    max_ratio: float = 200.0
    max_total_bytes: int = 64 * 1024**3
    max_depth: int = 3
    # how far the memory of one parse may grow (MB); a source that needs more is refused by name
    max_parse_memory_mb: int = 4096


@dataclass(frozen=True)
class Link:
    """Why an identifier belongs to a party: the case.toml entry that says so."""

    party: str
    key: str      # e.g. "party[1].phones[0]"
    raw: str      # the value as written in case.toml
    line: int     # its line in case.toml


@dataclass
class Party:
    name: str
    phones: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    whatsapp_names: list[str] = field(default_factory=list)
    # Platform accounts (telegram_ids, messenger_names, ...: PLATFORM_KEYS), normalised identifiers.
    platform_ids: list[str] = field(default_factory=list)


@dataclass
class Event:
    when_utc: datetime
    raw: str
    kind: str
    note: str
    line: int


@dataclass
class CaseConfig:
    title: str
    timezone: str
    phone_region: str
    date_order: str | None
    owner_name: str
    owner_phones: list[str]
    owner_emails: list[str]
    owner_whatsapp_names: list[str]
    parties: list[Party]
    events: list[Event]
    red_flags: list[str] | None
    # normalised identifier -> the case.toml entry linking it to a party
    links: dict[str, Link]
    limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    owner_platform_ids: list[str] = field(default_factory=list)
    ocr_languages: tuple[str, ...] = ("eng",)   # Tesseract language codes for text in screenshots

    def owner(self) -> Owner:
        """The owner's identifiers, normalised, as parsers see them."""
        return Owner(
            name=self.owner_name,
            phones=frozenset(check_phone(p, self.phone_region) or p for p in self.owner_phones),
            emails=lower_emails(self.owner_emails),
            whatsapp_names=frozenset(self.owner_whatsapp_names),
            platform_ids=frozenset(self.owner_platform_ids),
        )

    def owner_ids(self) -> frozenset[str]:
        """Every normalised identifier of the owner."""
        owner = self.owner()
        return (owner.phones | owner.emails | frozenset(whatsapp_id(n) for n in owner.whatsapp_names)
                | owner.platform_ids)


class TomlLines:
    """Finds the line of a key inside the n-th occurrence of a table in the TOML text."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def find(self, table: str, index: int | None, key: str | None) -> int:
        header = re.compile(r"^\s*\[\[\s*%s\s*\]\]" % re.escape(table) if index is not None
                            else r"^\s*\[\s*%s\s*\]" % re.escape(table))
        seen, start = -1, None
        for number, line in enumerate(self.lines, 1):
            if header.match(line):
                seen += 1
                if index is None or seen == index:
                    start = number
                    break
        if start is None:
            return 0
        if key is None:
            return start
        key_re = re.compile(r"^\s*%s\s*=" % re.escape(key))
        for number in range(start + 1, len(self.lines) + 1):
            line = self.lines[number - 1]
            if re.match(r"^\s*\[", line):
                break
            if key_re.match(line):
                return number
        return start


class _Validator:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = TomlLines(text)

    def fail(self, message: str, table: str, index: int | None = None, key: str | None = None,
             hint: str = "") -> CaseError:
        line = self.lines.find(table, index, key)
        name = f"{table}[{index + 1}]" if index is not None else table
        where = f"line {line}, [{name}]" + (f" {key}" if key else "") if line else f"[{name}]"
        return CaseError(message, file=str(self.path), where=where,
                         hint=hint or "Edit case.toml and run the command again.")

    def text(self, data: dict, key: str, table: str, index: int | None = None, required: bool = True,
             default: str | None = None) -> str | None:
        if key not in data:
            if required:
                raise self.fail(f"the key '{key}' is missing.", table, index, None,
                                f"Add a line such as {key} = \"...\" under [{table}].")
            return default
        value = data[key]
        if not isinstance(value, str):
            raise self.fail(f"'{key}' must be text in quotes, not {type(value).__name__}.", table, index, key)
        return value

    def text_list(self, data: dict, key: str, table: str, index: int | None = None) -> list[str]:
        value = data.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"'{key}' must be a list of texts, e.g. {key} = [\"a\", \"b\"].",
                            table, index, key)
        return value


def _listed_zone(key: str) -> bool:
    """Whether ``key`` is in zoneinfo's list of time zones (``available_timezones``), or is "UTC".
    That list starts with the zones of the tzdata package, one small file that names every IANA
    zone; only a key not in it has zoneinfo build the whole list, reading every file of the
    system's zone folders (4 ms of CPU, more wall time on a cold disk cache)."""
    return key == "UTC" or key in _tzdata_zones() or key in available_timezones()


def _tzdata_zones() -> set[str]:
    """The zones the tzdata package lists, as ``available_timezones`` reads them (none without it)."""
    try:
        return set(resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split())
    except (ImportError, FileNotFoundError):
        return set()


def load_config(path: Path) -> CaseConfig:
    """Read and validate a case.toml; every problem names the key and its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CaseError("there is no case.toml here.", file=str(path),
                        hint="Create the case first with: commtrail init CASE") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(f"case.toml cannot be read ({exc}).", file=str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CaseError(f"case.toml is not valid TOML: {exc}.", file=str(path),
                        hint="Check quotes and brackets on that line.") from None
    v = _Validator(path, text)
    case = data.get("case")
    if not isinstance(case, dict):
        raise CaseError("the [case] table is missing.", file=str(path),
                        hint="Add a [case] table with title, timezone and phone_region.")
    title = v.text(case, "title", "case")
    timezone = v.text(case, "timezone", "case")
    try:
        ZoneInfo(timezone)
        if not _listed_zone(timezone):
            raise ZoneInfoNotFoundError(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise v.fail(f"'{timezone}' is not a known time zone.", "case", None, "timezone",
                     "Use a name from the IANA list, e.g. \"Europe/London\" or \"America/New_York\".") from None
    region = v.text(case, "phone_region", "case")
    if region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise v.fail(f"'{region}' is not a known country code for phone numbers.", "case", None,
                     "phone_region", "Use a two-letter country code such as \"GB\" or \"US\".")
    region = region.upper()
    date_order = v.text(case, "date_order", "case", required=False)
    if date_order is not None and date_order.upper() not in DATE_ORDERS:
        raise v.fail(f"date_order '{date_order}' must be DMY, MDY or YMD.", "case", None, "date_order")
    ocr_languages = tuple(v.text_list(case, "ocr_languages", "case")) or ("eng",)
    for code in ocr_languages:
        if not re.fullmatch(r"[A-Za-z][A-Za-z_]*", code):
            raise v.fail(f"'{code}' is not a Tesseract language code.", "case", None, "ocr_languages",
                         "Use codes such as \"eng\", \"deu\" or \"chi_sim\".")
    red_flags = None
    analysis = data.get("analysis", {})
    if isinstance(analysis, dict) and "red_flags" in analysis:
        red_flags = v.text_list(analysis, "red_flags", "analysis")

    links: dict[str, Link] = {}

    def phones(table: str, index: int | None, entry: dict, party: str | None) -> list[str]:
        out = v.text_list(entry, "phones", table, index)
        for n, raw in enumerate(out):
            norm = check_phone(raw, region)
            if norm is None:
                raise v.fail(f"'{raw}' is not a phone number for region {region}.", table, index, "phones",
                             "Write it with its country code, e.g. \"+44 7700 900123\", or fix the digits.")
            if party:
                _link(links, v, norm, Link(party, f"{table}[{index + 1}].phones[{n + 1}]", raw,
                                           v.lines.find(table, index, "phones")), table, index)
        return out

    def emails(table: str, index: int | None, entry: dict, party: str | None) -> list[str]:
        out = v.text_list(entry, "emails", table, index)
        for n, raw in enumerate(out):
            if "@" not in raw or raw.strip() != raw or " " in raw:
                raise v.fail(f"'{raw}' is not an e-mail address.", table, index, "emails")
            if party:
                _link(links, v, raw.lower(), Link(party, f"{table}[{index + 1}].emails[{n + 1}]", raw,
                                                  v.lines.find(table, index, "emails")), table, index)
        return out

    owner_data = data.get("owner", {})
    if not isinstance(owner_data, dict):
        raise v.fail("[owner] must be a table.", "owner")
    owner_name = v.text(owner_data, "name", "owner", required=False, default="Owner")
    owner_phones = phones("owner", None, owner_data, None)
    owner_emails = emails("owner", None, owner_data, None)
    owner_wa = v.text_list(owner_data, "whatsapp_names", "owner")

    def platform_ids(table: str, index: int | None, entry: dict, party: str | None) -> list[str]:
        out = []
        for key in PLATFORM_KEYS:
            for n, raw in enumerate(v.text_list(entry, key, table, index)):
                ident = platform_id(key, raw)
                out.append(ident)
                if party:
                    _link(links, v, ident, Link(party, f"{table}[{index + 1}].{key}[{n + 1}]", raw,
                                                v.lines.find(table, index, key)), table, index)
        return out

    owner_platform = platform_ids("owner", None, owner_data, None)

    parties: list[Party] = []
    raw_parties = data.get("party", [])
    if not isinstance(raw_parties, list):
        raise v.fail("party entries must be written as [[party]] blocks.", "party")
    for i, entry in enumerate(raw_parties):
        name = v.text(entry, "name", "party", i)
        if any(p.name == name for p in parties):
            raise v.fail(f"two parties are called '{name}'.", "party", i, "name", "Give each party its own name.")
        party = Party(name, phones("party", i, entry, name), emails("party", i, entry, name),
                      v.text_list(entry, "whatsapp_names", "party", i))
        for n, wa in enumerate(party.whatsapp_names):
            _link(links, v, whatsapp_id(wa), Link(name, f"party[{i + 1}].whatsapp_names[{n + 1}]", wa,
                                                  v.lines.find("party", i, "whatsapp_names")), "party", i)
        party.platform_ids = platform_ids("party", i, entry, name)
        parties.append(party)

    events: list[Event] = []
    raw_events = data.get("event", [])
    if not isinstance(raw_events, list):
        raise v.fail("event entries must be written as [[event]] blocks.", "event")
    zone = ZoneInfo(timezone)
    for i, entry in enumerate(raw_events):
        raw_date = entry.get("date")
        if isinstance(raw_date, datetime):
            when = raw_date
            raw_text = raw_date.isoformat()
        else:
            raw_text = v.text(entry, "date", "event", i)
            try:
                when = datetime.fromisoformat(raw_text)
            except ValueError:
                raise v.fail(f"'{raw_text}' is not a date and time.", "event", i, "date",
                             "Write it as \"2024-03-01T18:30\" (local time) or with an offset.") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=zone)
        kind = v.text(entry, "kind", "event", i)
        if kind not in EVENT_KINDS:
            raise v.fail(f"event kind '{kind}' is not one of {', '.join(EVENT_KINDS)}.", "event", i, "kind")
        note = v.text(entry, "note", "event", i, required=False, default="")
        events.append(Event(when.astimezone(ZoneInfo("UTC")), raw_text, kind, note,
                            v.lines.find("event", i, None)))
    events.sort(key=lambda e: e.when_utc)
    limits = _limits(v, data.get("limits", {}))
    return CaseConfig(title, timezone, region, date_order.upper() if date_order else None, owner_name,
                      owner_phones, owner_emails, owner_wa, parties, events, red_flags, links, limits,
                      owner_platform, ocr_languages)


def _limits(v: _Validator, data: dict) -> ArchiveLimits:
    """``[limits]``: max_archive_ratio, max_archive_total_bytes and max_parse_memory_mb (positive numbers)."""
    default = ArchiveLimits()
    values = {}
    for key, attr, kind in (("max_archive_ratio", "max_ratio", (int, float)),
                            ("max_archive_total_bytes", "max_total_bytes", int),
                            ("max_parse_memory_mb", "max_parse_memory_mb", int)):
        value = data.get(key, getattr(default, attr))
        if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
            raise v.fail(f"'{key}' must be a positive number.", "limits", None, key)
        values[attr] = value
    return ArchiveLimits(**values)


def _link(links: dict[str, Link], v: _Validator, ident: str, link: Link, table: str, index: int | None) -> None:
    other = links.get(ident)
    if other is not None and other.party != link.party:
        raise v.fail(f"'{link.raw}' is listed for both {other.party} and {link.party}.", table, index, None,
                     "An identifier can belong to one party only; remove it from one of them.")
    links.setdefault(ident, link)


class Case:
    """A case folder: its config and the paths of everything derived in it."""

    def __init__(self, root: Path) -> None:
        private_umask()
        self.root = Path(root)
        self._lock_fd: int | None = None
        if not self.root.is_dir():
            raise CaseError("this case folder does not exist.", file=str(self.root),
                            hint="Create it first with: commtrail init CASE")
        self.config = load_config(self.root / CASE_FILE)

    originals = property(lambda self: self.root / "originals")
    staging = property(lambda self: self.root / "staging")
    blobs = property(lambda self: self.root / "blobs")
    report_dir = property(lambda self: self.root / "report")
    sources_file = property(lambda self: self.root / "sources.parquet")
    master_file = property(lambda self: self.root / "master.parquet")
    manifest_file = property(lambda self: self.root / "manifest.sha256")

    pending_file = property(lambda self: self.root / PENDING_FILE)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the case's lock file while a command changes it; a second command is refused.

        The lock is the kernel's (flock): a command that is killed releases it. Within one command
        the same Case object may take it again (a step that locks, called by a command that locks).
        """
        if self._lock_fd is not None:   # this command holds it already
            yield
            return
        path = self.root / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
                raise CaseError(f"another commtrail command ({holder}) is working on this case right now.",
                                file=str(self.root), hint="Wait for it to finish, then run this again.") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
            self._lock_fd = fd
            yield
        finally:
            self._lock_fd = None
            os.close(fd)

    def busy(self) -> bool:
        """Whether a command (of another Case object or process) holds the lock right now."""
        if self._lock_fd is not None:
            return False
        try:
            fd = os.open(self.root / LOCK_FILE, os.O_RDONLY)
        except FileNotFoundError:
            return False
        except OSError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def leftovers(self, strict: bool = False) -> list[str]:
        """Temporary files whose writer is gone (an interrupted command), relative to the case.

        A file tagged with a process id counts when that process no longer runs; the others
        (blobs being written, nested-archive copies, the dedup database) when no command holds
        the lock. ``strict`` (for verify, which runs only when no command does): every one counts.
        """
        busy = False if strict else self.busy()
        out = []
        for path in self.root.rglob("*"):
            if path.is_dir() and not path.is_symlink():
                continue
            rel = path.relative_to(self.root).as_posix()
            m = _PID_TEMP.match(rel)
            if m and (strict or not _alive(int(m.group(1)))):
                out.append(rel)
            elif not m and _OTHER_TEMP.match(rel) and not busy:
                out.append(rel)
        return sorted(out)

    def tidy(self) -> list[str]:
        """Remove what interrupted commands left behind: their temporary files, and staging files
        and copies of inputs that no inventory row records (written before the inventory was).
        Call with the lock held. Returns the removed paths, relative to the case."""
        from commtrail.inventory import read_inventory

        removed = []
        for rel in self.leftovers():
            _remove(self.root / rel)
            removed.append(rel)
        for folder in (self.root / ".tmp", self.root / ".duckdb-tmp"):
            if folder.is_dir() and not any(p.is_file() for p in folder.rglob("*")):
                shutil.rmtree(folder, ignore_errors=True)
        try:
            known = {row["sha256"] for row in read_inventory(self.sources_file)}
        except Exception:  # noqa: BLE001 - an unreadable inventory: touch nothing, verify says why
            return removed
        for folder, pattern in ((self.staging, _STAGED), (self.originals, _HEX64)):
            for path in sorted(folder.iterdir()) if folder.is_dir() else ():
                m = pattern.match(path.name)
                if m and m.group(1) not in known and path.is_file() and not path.is_symlink():
                    _remove(path)
                    removed.append(path.relative_to(self.root).as_posix())
        return sorted(removed)

    def ensure_dirs(self) -> None:
        """Create the case's folders, readable by the user alone (the case folder and its
        case.toml are made so too, whoever created them)."""
        for path in (self.root, self.root / CASE_FILE):
            mode = path.stat().st_mode & 0o777
            if mode & 0o077:
                os.chmod(path, mode & 0o700)
        for path in (self.originals, self.staging, self.blobs, self.report_dir):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _remove(path: Path) -> None:
    """Remove a file, even a read-only one (copies of inputs are 0400)."""
    try:
        path.unlink()
    except PermissionError:
        os.chmod(path, 0o600)
        path.unlink()
    except FileNotFoundError:
        pass


def is_working_file(rel: str) -> bool:
    """Whether a path relative to the case is one of the user's working files (not evidence)."""
    return rel in (CASE_FILE, BACKUP_FILE) or rel.startswith(INCIDENT_DIR + "/")


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string: quotes, backslashes and control characters escaped."""
    def escape(ch: str) -> str:
        code = ord(ch)
        if ch in '"\\':
            return "\\" + ch
        if 0xD800 <= code <= 0xDFFF:   # a byte of a file name that is not UTF-8 (surrogate escape)
            return "\ufffd"
        if code < 0x20 or code == 0x7F:
            return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(ch, f"\\u{code:04X}")
        return ch
    return '"' + "".join(escape(ch) for ch in value) + '"'


def init_case(root: Path, timezone: str = "Europe/London", region: str = "GB",
              title: str | None = None) -> Path:
    """Create a case folder with a commented case.toml (and the incident-log template)."""
    root = Path(root)
    target = root / CASE_FILE
    if target.exists():
        raise CaseError("this folder already holds a case.toml; it was left as it is.", file=str(target),
                        hint="Edit it, or choose another folder for a new case.")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CaseError(f"'{timezone}' is not a known time zone.", where="--timezone",
                        hint="Use a name such as Europe/London or America/New_York.") from None
    if region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise CaseError(f"'{region}' is not a known country code.", where="--region",
                        hint="Use a two-letter code such as GB or US.")
    old_umask = os.umask(0o077)
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        template = resources.files("commtrail.data").joinpath("case_template.toml").read_text(encoding="utf-8")
        values = {"title": toml_string(title if title is not None else root.name), "timezone": toml_string(timezone),
                  "region": toml_string(region.upper())}
        text = re.sub(r'"\{(title|timezone|region)\}"', lambda m: values[m.group(1)], template)
        target.write_text(text, encoding="utf-8")
        incidents = root / INCIDENT_TEMPLATE
        incidents.parent.mkdir(mode=0o700, exist_ok=True)
        if not incidents.exists():
            incidents.write_bytes(resources.files("commtrail.data").joinpath("incident_log_template.csv").read_bytes())
    finally:
        os.umask(old_umask)
    return target
