"""Where the password of an encrypted input comes from: a file (``--password-file``) or, in a
terminal, a prompt; never the command line (it would stay in the shell's history and the process
list). Asked for at most once per run, and only when an input needs it."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from pathlib import Path

from commtrail.errors import UsageError


def password_source(path: str | None) -> Callable[[], str | None]:
    """A function giving the password: the first line of ``path`` (its line break and a UTF-8 BOM
    dropped, nothing else), else a prompt when stdin is a terminal, else None."""
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8-sig")   # a BOM (Windows Notepad) is not the password
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"the password file cannot be read ({exc}).", file=path,
                             hint="Give a UTF-8 text file holding only the password.") from None
        password = text.split("\n", 1)[0].removesuffix("\r")
        return lambda: password
    asked: list[str | None] = []

    def prompt() -> str | None:
        if not asked:
            asked.append(getpass.getpass("Password of the encrypted backup: ") if sys.stdin.isatty() else None)
        return asked[0]
    return prompt
