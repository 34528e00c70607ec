"""Text that reaches the terminal exactly as it is.

File names, party names, senders and message texts come from users and from sources. On the
terminal they are never read as markup (``[bold]``, ``[link=...]``, ``[/]``), emoji codes
(``:smile:``) or escape sequences: :func:`plain` turns any such text into a rich ``Text`` that
shows its characters, with control and direction characters written as escapes. The data keeps
them as they are; only what is shown is escaped.
"""

from __future__ import annotations

import os
import re
import sys

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich is imported when something is shown, not when the CLI starts (issue 19)
    from rich.console import Console
    from rich.text import Text

# Characters that would act on a terminal (escape sequences, bells, line breaks) or reorder what
# is shown (bidirectional overrides).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` safe to show on a terminal: control and direction characters as escapes."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                            else f"\\u{ord(m.group()):04x}", text)


def plain(text: object) -> Text:
    """``text`` as a rich ``Text``: shown character for character, never read as markup."""
    from rich.text import Text
    return Text(printable(str(text)))


def make_console(*, stderr: bool = False) -> Console:
    """A console that prints what it is given: no markup guessing, no highlighting, no emoji codes."""
    from rich.console import Console
    # a terminal's own width (or $COLUMNS); 160 when the output goes to a file or a pipe
    width = None if (sys.stderr if stderr else sys.stdout).isatty() or os.environ.get("COLUMNS") else 160
    return Console(stderr=stderr, highlight=False, soft_wrap=True, emoji=False, width=width)


def say(console: Console, text: str) -> None:
    """Print one line of text exactly as it is (escaped for the terminal)."""
    console.print(plain(text))
