"""The ``commtrail`` command: argument handling only; the work is done by the stages."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from commtrail import __version__
from commtrail.errors import EXIT_INPUT, EXIT_OK, EXIT_USAGE, CommtrailError, UsageError
from commtrail.terminal import make_console, say

if TYPE_CHECKING:  # each command imports what it uses when it runs (start-up time, issue 19)
    from rich.console import Console

    from commtrail.case import Case
    from commtrail.review.annotations import Selection

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
    select = argparse.ArgumentParser(add_help=False)
    select.add_argument("--only", choices=["starred"], help="only the events the reviewer starred (with --tag: "
                        "starred or tagged)")
    select.add_argument("--tag", metavar="NAME", action="append", default=[],
                        help="only the events the reviewer tagged NAME (repeat for more tags: any of them)")

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
    p.add_argument("inputs", metavar="INPUT", nargs="*",
                   help="files, folders or archives (none: only build the master again when it is missing)")
    p.add_argument("--date-order", choices=["DMY", "MDY", "YMD"], type=str.upper,
                   help="day/month order of WhatsApp exports when the file cannot tell")
    p.add_argument("--no-copy", action="store_true", help="keep only the hash of each input, not a copy")
    p.add_argument("--password-file", metavar="FILE",
                   help="a file holding the password of an encrypted iPhone backup (without it, ingest asks "
                        "in a terminal)")

    sub.add_parser("stats", parents=[common, case_arg], help="headline figures in the terminal")
    p = sub.add_parser("export", parents=[common, case_arg, select], help="export the master as CSV, XLSX or JSONL")
    p.add_argument("--format", required=True, choices=["csv", "xlsx", "jsonl"], type=str.lower,
                   help="csv (opens in Excel), xlsx, or jsonl (loads into Timesketch)")
    p.add_argument("--party", help="only the events of this party (a name from case.toml)")
    p = sub.add_parser("verify", parents=[common, case_arg],
                       help="re-hash the case against manifest.sha256 and check the master against staging "
                            "(or a bundle, folder or encrypted zip, against its manifests)")
    p.add_argument("--passphrase-file", metavar="FILE", help="an encrypted bundle's passphrase (first line); "
                   "without it you are asked")
    p = sub.add_parser("report", parents=[common, case_arg, select],
                       help="write the evidence report (report.html and report.pdf) in CASE/report/")
    p.add_argument("--party", metavar="NAME", help="only this party of case.toml (default: every party)")
    p.add_argument("--timestamp", action="store_true",
                   help="record the time of this run in the report (then re-runs are no longer byte-identical)")
    p.add_argument("--produced", action="store_true",
                   help="this report is handed over: freeze its exhibit numbers (recorded in CASE/productions.jsonl)")
    p = sub.add_parser("chart", parents=[common, case_arg], help="charts of the contacts in CASE/report/charts/")
    p.add_argument("--party", metavar="NAME", help="only this party (default: every party)")
    p = sub.add_parser("bundle", parents=[common, case_arg, select],
                       help="write the court bundle: a BagIt bag of originals, report, transcripts, exports, "
                            "master, methodology and certification templates")
    p.add_argument("out", metavar="OUT", help="a new folder for the bag (with --encrypt: the .zip file)")
    p.add_argument("--party", metavar="NAME", help="only this party of case.toml (default: every party)")
    p.add_argument("--encrypt", action="store_true", help="write one AES-256 zip, passphrase asked for")
    p.add_argument("--passphrase-file", metavar="FILE", help="with --encrypt: read the passphrase from the "
                   "first line of FILE instead of asking (never give it on the command line)")
    p = sub.add_parser("assign", parents=[common, case_arg],
                       help="list an identifier for a party in case.toml (comments kept, the old file kept as "
                            "case.toml.bak) and re-resolve the master's parties")
    p.add_argument("identifier", metavar="IDENTIFIER", help="a phone number, an e-mail address, wa:NAME, or a "
                   "platform account (tg:, fb:, ig:, signal:, snap:, discord:)")
    p.add_argument("party", metavar="PARTY", help="the party's name (a new name makes a new [[party]] block)")
    p = sub.add_parser("serve", parents=[common, case_arg],
                       help="review the case in the browser: a local page (127.0.0.1 only) to read, star, tag "
                            "and note events, link identifiers to parties and write the report")
    p.add_argument("--port", type=int, default=0, metavar="N", help="the port to listen on (default: a free one)")
    p.add_argument("--no-browser", action="store_true", help="print the address only; do not open a browser")
    p = sub.add_parser("demo", parents=[common], help="build the bundled sample case and run everything on it")
    p.add_argument("dir", metavar="DIR", nargs="?", default="commtrail-demo", help="where to build it")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)   # --version and --help end here, having imported nothing more
    if extra and args.command == "ingest" and not any(e.startswith("-") for e in extra):
        args.inputs += extra   # inputs after an option (`ingest CASE --no-copy FILE`): INPUT may be none at all
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    from commtrail.case import private_umask
    private_umask()   # everything this command creates is readable by the user alone
    console = make_console()
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    try:
        return COMMANDS[args.command](args, console)
    except CommtrailError as exc:
        if getattr(args, "debug", False):
            traceback.print_exc()
        say(make_console(stderr=True), f"Error: {exc.render()}")
        return exc.exit_code
    except KeyboardInterrupt:
        return _interrupted(args)
    except Exception as exc:  # a bug: say so plainly; the traceback only with --debug
        if _duckdb_interrupted(exc):   # DuckDB turns Ctrl-C during a query into this
            return _interrupted(args)
        if getattr(args, "debug", False):
            traceback.print_exc()
        if _damaged_parquet(exc):
            case = getattr(args, "case", "CASE")
            say(make_console(stderr=True),
                f"Error: a Parquet file of the case cannot be read ({str(exc).splitlines()[0]}). It is damaged, or it was changed "
                f"outside commtrail: `commtrail verify {case}` names every file of the case that changed. Put back "
                "a copy of it (from a copy of the case folder, or from a court bundle's data/ folder), or make the "
                "case again from the originals.")
            return EXIT_USAGE
        say(make_console(stderr=True),
            f"Error: commtrail failed unexpectedly ({type(exc).__name__}: {exc}). This step did not "
            "finish; files it had not finished were not written. Please report this; run again with --debug for details.")
        return EXIT_INPUT


def _interrupted(args: argparse.Namespace) -> int:
    """Say what an interruption (Ctrl-C) left: an ingest that had staged sources is finished by the
    next one; anything else leaves the case as it was (its files are written whole or not at all)."""
    from commtrail.case import PENDING_FILE
    case = getattr(args, "case", None)
    if args.command == "ingest" and case is not None and (Path(case) / PENDING_FILE).exists():
        say(make_console(stderr=True), "Interrupted before the master was built again. Run the same `commtrail "
            "ingest` again to finish it (what it had staged already is skipped, the rest read); until then the other "
            "commands refuse the case and `verify` reports it unfinished.")
    else:
        say(make_console(stderr=True), "Interrupted; the case is left as it was before this step.")
    return 130


def _duckdb_interrupted(exc: Exception) -> bool:
    """Whether an error is DuckDB's for a query stopped by Ctrl-C."""
    return isinstance(exc, RuntimeError) and str(exc).startswith("Query interrupted")


def _damaged_parquet(exc: Exception) -> bool:
    """Whether an error is pyarrow or DuckDB refusing a Parquet file as damaged (a case file changed on disk)."""
    return type(exc).__module__.lstrip("_").startswith(("pyarrow", "duckdb")) and "parquet" in str(exc).lower()


def _selection(args: argparse.Namespace, case: Case, console: Console) -> Selection:
    """The events --only starred / --tag NAME ask for (see review/annotations.py); a warning for
    each problem of annotations.jsonl when they are read."""
    from commtrail.review.annotations import Selection, check_annotations
    selection = Selection(args.only == "starred", tuple(tag.strip() for tag in args.tag))
    for problem in check_annotations(case) if selection else ():
        say(console, f"Warning: {problem} (run commtrail verify)")
    return selection


@command("init")
def _init(args: argparse.Namespace, console: Console) -> int:
    from commtrail.case import INCIDENT_TEMPLATE, init_case
    path = init_case(Path(args.case), timezone=args.timezone, region=args.region, title=args.title)
    say(console, f"Created {path}. Edit it to name the people involved, then run: "
                 f"commtrail ingest {args.case} FILES... An incident log to fill in is in "
                 f"{path.parent / INCIDENT_TEMPLATE} (ingest it from there).")
    return EXIT_OK


@command("ingest")
def _ingest(args: argparse.Namespace, console: Console) -> int:
    from commtrail.nopandas import arrow_without_pandas
    arrow_without_pandas()
    from commtrail.ingest.password import password_source
    from commtrail.pipeline import ingest_and_build
    return ingest_and_build(Path(args.case), args.inputs, console, date_order=args.date_order,
                            copy=not args.no_copy, debug=args.debug, password=password_source(args.password_file))


@command("stats")
def _stats(args: argparse.Namespace, console: Console) -> int:
    from commtrail.nopandas import arrow_without_pandas
    arrow_without_pandas()
    from commtrail.outputs.stats import print_stats
    from commtrail.pipeline import current_case
    print_stats(current_case(Path(args.case), console), console)
    return EXIT_OK


@command("export")
def _export(args: argparse.Namespace, console: Console) -> int:
    from commtrail.outputs.export import export, export_record
    from commtrail.outputs.manifest import write_manifest
    from commtrail.pipeline import current_case
    case = current_case(Path(args.case), console)
    with case.lock():
        path, rows = export(case, args.format, args.party, _selection(args, case, console))
        write_manifest(case, [path, export_record(case, path)])
    say(console, f"Wrote {rows} events to {path}")
    return EXIT_OK


@command("verify")
def _verify(args: argparse.Namespace, console: Console) -> int:
    from commtrail.case import Case
    from commtrail.outputs.bundle_verify import is_bundle, verify_bundle
    from commtrail.outputs.bundle_zip import read_passphrase
    from commtrail.outputs.manifest import verify
    bundle = is_bundle(Path(args.case))
    if bundle:
        encrypted = Path(args.case).is_file()
        result = verify_bundle(Path(args.case), read_passphrase(args.passphrase_file, False) if encrypted else None)
    else:
        result = verify(Case(Path(args.case)))
    for label, paths in (("missing", result.missing), ("changed", result.changed), ("extra", result.extra)):
        for rel in paths:
            say(console, f"{label}: {rel}")
    for problem in result.problems:
        say(console, f"problem: {problem}")
    for rel, how in result.edited:
        say(console, f"edited: {rel} ({how}; your working file, not evidence)")
    if result.ok and bundle:
        say(console, f"OK: {result.checked} files of the bundle match its manifests.")
        return EXIT_OK
    if result.ok:
        console.print(f"OK: {result.checked} files match manifest.sha256; the master agrees with staging.",
                      markup=False)
        return EXIT_OK
    console.print(f"FAILED: {len(result.missing)} missing, {len(result.changed)} changed, "
                  f"{len(result.extra)} extra, {len(result.problems)} other problems.", markup=False)
    return EXIT_INPUT


@command("report")
def _report(args: argparse.Namespace, console: Console) -> int:
    from commtrail.outputs.export import check_party
    from commtrail.outputs.manifest import write_manifest
    from commtrail.outputs.produce import produce
    from commtrail.outputs.report import write_report
    from commtrail.pipeline import current_case
    case = current_case(Path(args.case), console)
    with case.lock():
        if args.produced:
            check_party(case, args.party)
            produce(case, "report", args.party)
        paths = write_report(case, party=args.party, timestamp=args.timestamp,
                             warn=lambda notice: say(console, f"Warning: {notice}"),
                             selection=_selection(args, case, console))
        write_manifest(case, paths)
    for path in paths[:2]:
        say(console, f"Wrote {path}")
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
    say(console, f"{len(paths)} chart files in {paths[0].parent}:" if paths else "No contacts to chart.")
    for path in paths:
        say(console, f"  {path.name}")
    return EXIT_OK


@command("bundle")
def _bundle(args: argparse.Namespace, console: Console) -> int:
    from commtrail.nopandas import arrow_without_pandas
    arrow_without_pandas()   # nothing a bundle writes needs pandas
    from commtrail.outputs.bundle import bundle_target, write_bundle
    from commtrail.outputs.bundle_zip import read_passphrase
    from commtrail.pipeline import current_case
    if args.passphrase_file and not args.encrypt:
        raise UsageError("--passphrase-file is for --encrypt.", hint="Add --encrypt, or leave the file out.")
    case = current_case(Path(args.case), console)
    selection = _selection(args, case, console)
    bundle_target(case, Path(args.out), args.party, args.encrypt, selection)   # refuse before asking for a passphrase
    passphrase = read_passphrase(args.passphrase_file, True) if args.encrypt else None
    result = write_bundle(case, Path(args.out), args.party, passphrase, selection)
    console.print(f"Wrote the bundle {result.path} ({result.files} files, {result.bytes:,} bytes of payload"
                  f"{', AES-256 encrypted' if result.encrypted else ''}). Check it with: commtrail verify "
                  f"{result.path}", markup=False)
    return EXIT_OK


@command("assign")
def _assign(args: argparse.Namespace, console: Console) -> int:
    from commtrail.pipeline import current_case
    from commtrail.review.people import assign_identifier
    say(console, assign_identifier(current_case(Path(args.case), console), args.identifier, args.party))
    return EXIT_OK


@command("serve")
def _serve(args: argparse.Namespace, console: Console) -> int:
    from commtrail.pipeline import current_case
    from commtrail.serve.server import serve
    return serve(current_case(Path(args.case), console), port=args.port, open_browser=not args.no_browser)


@command("demo")
def _demo(args: argparse.Namespace, console: Console) -> int:
    from commtrail.demo import run_demo
    return run_demo(Path(args.dir), console)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["main", "build_parser", "EXIT_INPUT"]
