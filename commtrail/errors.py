"""The one error type of commtrail, and its exit codes.

Every stage raises a subclass of :class:`CommtrailError`; only ``cli.py`` turns it into a
message and an exit status (a traceback only with ``--debug``).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INPUT = 1  # some input was refused or failed; the others still went in
EXIT_USAGE = 2  # wrong usage or a broken case.toml


class CommtrailError(Exception):
    """A problem the user can act on: which file, where in it, and what to do."""

    exit_code = EXIT_INPUT

    def __init__(self, message: str, *, file: str | None = None, where: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.where = where
        self.hint = hint

    def render(self) -> str:
        """One paragraph: file, place, problem, what to do."""
        head = ""
        if self.file:
            head = f"{self.file}"
            if self.where:
                head += f" ({self.where})"
            head += ": "
        text = head + self.message
        if self.hint:
            text += " " + self.hint
        return text


class InputError(CommtrailError):
    """An input file that cannot be read or is not of a known format."""

    exit_code = EXIT_INPUT


class DateOrderAmbiguous(InputError):
    """Day/month order cannot be decided from the file's content."""


class CaseError(CommtrailError):
    """A missing or broken case directory or case.toml."""

    exit_code = EXIT_USAGE


class UsageError(CommtrailError):
    """Wrong use of the command line."""

    exit_code = EXIT_USAGE
