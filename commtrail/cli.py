"""The ``commtrail`` command: argument handling only; the work is done by the stages."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from commtrail import __version__
from commtrail.errors import EXIT_INPUT, EXIT_OK, EXIT_USAGE, CommtrailError

if TYPE_CHECKING:  # each command imports what it uses when it runs (start-up time, issue 19)
    from rich.console import Console

COMMANDS: dict[str, Callable[[argparse.Namespace, Console], int]] = {}


def command(name: str):  # type: ignore[no-untyped-def]
    """Register the function that runs a sub-command."""
    def wrap(fn: Callable[[argparse.Namespace, Console], int]) -> Callable[[argparse.Namespace, Console], int]:
        COMMANDS[name] = fn
        return fn
    return wrap


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command (the README reference is generated from it)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show a traceback on errors")
    case_arg = argparse.ArgumentParser(add_help=False)
    case_arg.add_argument("case", metavar="CASE", help="the case folder")

    parser = argparse.ArgumentParser(
        prog="commtrail", description="Turn phone and mail backups into a provenance-tracked evidence timeline.")
    parser.add_argument("--version", action="version", version=f"commtrail {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("init", parents=[common, case_arg], help="create a case folder with a commented case.toml")
    p.add_argument("--timezone", default="Europe/London", help="the owner's time zone (IANA name)")
    p.add_argument("--region", default="GB", help="default country for phone numbers (two letters)")
    p.add_argument("--title", help="case title (default: the folder name)")

    p = sub.add_parser("ingest", parents=[common, case_arg],
                       help="ingest files, folders and zips; rebuild the master evidence file")
    p.add_argument("inputs", metavar="INPUT", nargs="+", help="files, folders or archives")
    p.add_argument("--date-order", choices=["DMY", "MDY", "YMD"], type=str.upper,
                   help="day/month order of WhatsApp exports when the file cannot tell")
    p.add_argument("--no-copy", action="store_true", help="keep only the hash of each input, not a copy")

    sub.add_parser("stats", parents=[common, case_arg], help="headline figures in the terminal")
    p = sub.add_parser("export", parents=[common, case_arg], help="export the master as CSV, XLSX or JSONL")
    p.add_argument("--format", required=True, choices=["csv", "xlsx", "jsonl"], type=str.lower,
                   help="csv (opens in Excel), xlsx, or jsonl (loads into Timesketch)")
    p.add_argument("--party", help="only the events of this party (a name from case.toml)")
    sub.add_parser("verify", parents=[common, case_arg],
                   help="re-hash the case against manifest.sha256 and check the master against staging")
    p = sub.add_parser("report", parents=[common, case_arg],
                       help="write the evidence report (report.html and report.pdf) in CASE/report/")
    p.add_argument("--party", metavar="NAME", help="only this party of case.toml (default: every party)")
    p.add_argument("--timestamp", action="store_true",
                   help="record the time of this run in the report (then re-runs are no longer byte-identical)")
    p = sub.add_parser("chart", parents=[common, case_arg], help="charts of the contacts in CASE/report/charts/")
    p.add_argument("--party", metavar="NAME", help="only this party (default: every party)")
    p = sub.add_parser("demo", parents=[common], help="build the bundled sample case and run everything on it")
    p.add_argument("dir", metavar="DIR", nargs="?", default="commtrail-demo", help="where to build it")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(argv)   # --version and --help end here, having imported nothing more
    from rich.console import Console

    from commtrail.case import private_umask
    private_umask()   # everything this command creates is readable by the user alone
    console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    try:
        return COMMANDS[args.command](args, console)
    except CommtrailError as exc:
        if getattr(args, "debug", False):
            traceback.print_exc()
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"Error: {exc.render()}", markup=False)
        return exc.exit_code
    except KeyboardInterrupt:
        Console(stderr=True).print("Interrupted; the case is left as it was before this step.")
        return 130
    except Exception as exc:  # a bug: say so plainly; the traceback only with --debug
        if getattr(args, "debug", False):
            traceback.print_exc()
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"Error: commtrail failed unexpectedly ({type(exc).__name__}: {exc}). This step did not "
            "finish; files it had not finished were not written. Please report this; run again with --debug for details.", markup=False)
        return EXIT_INPUT


@command("init")
def _init(args: argparse.Namespace, console: Console) -> int:
    from commtrail.case import INCIDENT_TEMPLATE, init_case
    path = init_case(Path(args.case), timezone=args.timezone, region=args.region, title=args.title)
    console.print(f"Created {path}. Edit it to name the people involved, then run: "
                  f"commtrail ingest {args.case} FILES... An incident log to fill in is in "
                  f"{path.parent / INCIDENT_TEMPLATE} (ingest it from there).", markup=False)
    return EXIT_OK


@command("ingest")
def _ingest(args: argparse.Namespace, console: Console) -> int:
    from commtrail.pipeline import ingest_and_build
    return ingest_and_build(Path(args.case), args.inputs, console, date_order=args.date_order,
                            copy=not args.no_copy, debug=args.debug)


@command("stats")
def _stats(args: argparse.Namespace, console: Console) -> int:
    from commtrail.outputs.stats import print_stats
    from commtrail.pipeline import current_case
    print_stats(current_case(Path(args.case), console), console)
    return EXIT_OK


@command("export")
def _export(args: argparse.Namespace, console: Console) -> int:
    from commtrail.outputs.export import export
    from commtrail.outputs.manifest import write_manifest
    from commtrail.pipeline import current_case
    case = current_case(Path(args.case), console)
    with case.lock():
        path, rows = export(case, args.format, args.party)
        write_manifest(case, [path])
    console.print(f"Wrote {rows} events to {path}", markup=False)
    return EXIT_OK


@command("verify")
def _verify(args: argparse.Namespace, console: Console) -> int:
    from commtrail.case import Case
    from commtrail.outputs.manifest import verify
    result = verify(Case(Path(args.case)))
    for label, paths in (("missing", result.missing), ("changed", result.changed), ("extra", result.extra)):
        for rel in paths:
            console.print(f"{label}: {rel}", markup=False)
    for problem in result.problems:
        console.print(f"problem: {problem}", markup=False)
    for rel, how in result.edited:
        console.print(f"edited: {rel} ({how}; your working file, not evidence)", markup=False)
    if result.ok:
        console.print(f"OK: {result.checked} files match manifest.sha256; the master agrees with staging.",
                      markup=False)
        return EXIT_OK
    console.print(f"FAILED: {len(result.missing)} missing, {len(result.changed)} changed, "
                  f"{len(result.extra)} extra, {len(result.problems)} other problems.", markup=False)
    return EXIT_INPUT


@command("report")
def _report(args: argparse.Namespace, console: Console) -> int:
    from commtrail.outputs.manifest import write_manifest
    from commtrail.outputs.report import write_report
    from commtrail.pipeline import current_case
    case = current_case(Path(args.case), console)
    with case.lock():
        paths = write_report(case, party=args.party, timestamp=args.timestamp)
        write_manifest(case, paths)
    for path in paths[:2]:
        console.print(f"Wrote {path}", markup=False)
    return EXIT_OK


@command("chart")
def _chart(args: argparse.Namespace, console: Console) -> int:
    from commtrail.outputs.charts import charts_dir, write_charts
    from commtrail.outputs.manifest import write_manifest
    from commtrail.pipeline import current_case
    case = current_case(Path(args.case), console)
    with case.lock():
        paths = write_charts(case, party=args.party)
        write_manifest(case, [charts_dir(case)])
    console.print(f"{len(paths)} chart files in {paths[0].parent}:" if paths else "No contacts to chart.", markup=False)
    for path in paths:
        console.print(f"  {path.name}", markup=False)
    return EXIT_OK


@command("demo")
def _demo(args: argparse.Namespace, console: Console) -> int:
    from commtrail.demo import run_demo
    return run_demo(Path(args.dir), console)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["main", "build_parser", "EXIT_INPUT"]
