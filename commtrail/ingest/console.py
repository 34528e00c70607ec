"""Terminal output of ingest: a progress bar on long work and the summary table."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress as RichProgress, TextColumn, TimeRemainingColumn
from rich.table import Table

from commtrail.ingest.runner import IngestResult, Progress
from commtrail.inventory import shown_paths, source_name
from commtrail.terminal import plain, printable

BIG = 32 * 1024 * 1024


class BarProgress(Progress):
    """A rich progress bar for inputs large enough to be worth one (only on a terminal)."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._bar: RichProgress | None = None
        self._task = None

    def start(self, label: str, total: int) -> None:
        if total < BIG or not self._console.is_terminal:
            return
        self._bar = RichProgress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                 TimeRemainingColumn(), console=self._console, transient=True)
        self._bar.start()
        self._task = self._bar.add_task(plain(label[-50:]).markup, total=total)

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def summary_table(result: IngestResult) -> Table:
    """Per input: status, format, records, rejects, repairs, warnings. Fits an 80-column terminal:
    each input is named by its file name, with the folder (relative to the folder all the inputs
    share) on the line below."""
    table = Table(title="Ingest summary", box=None, title_justify="left", pad_edge=False, header_style="bold underline")
    table.add_column("input", overflow="fold", ratio=1, min_width=12)
    for name, justify in (("status", "left"), ("format", "left"), ("records", "right"),
                          ("rejects", "right"), ("repairs", "right"), ("warnings", "right")):
        table.add_column(name, justify=justify, no_wrap=True)
    shown = shown_paths([o.label for o in result.outcomes])
    for o in result.outcomes:
        label = plain(source_name(shown[o.label]))
        folder = shown[o.label][:-len(label.plain)]
        if folder:
            label.append("\n" + printable(folder), style="dim")
        table.add_row(label, o.status, plain(o.format), str(o.records) if o.status == "ingested" else "",
                      str(o.rejects) if o.status == "ingested" else "", str(o.repairs) if o.repairs else "",
                      str(len(o.warnings)) if o.warnings else "")
    return table


def skipped_line(result: IngestResult) -> str | None:
    """One sentence saying how many system files were passed over, and of which kinds."""
    if not result.skipped:
        return None
    total = sum(result.skipped.values())
    kinds = ", ".join(f"{n} {kind}" for kind, n in result.skipped.items())
    return f"Passed over {total} system file{'s' if total != 1 else ''} that hold no messages: {kinds}."
