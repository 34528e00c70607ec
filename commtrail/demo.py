"""``commtrail demo``: build the bundled sample case and run the whole pipeline on it."""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console

from commtrail.case import Case
from commtrail.demo_data import CASE_TOML, write_inputs
from commtrail.errors import UsageError
from commtrail.outputs.bundle import write_bundle
from commtrail.outputs.bundle_verify import verify_bundle
from commtrail.outputs.current import records_dir
from commtrail.outputs.export import export, export_record
from commtrail.outputs.manifest import verify, write_manifest
from commtrail.outputs.report import write_report
from commtrail.outputs.stats import print_stats
from commtrail.pipeline import ingest_and_build

MARKER = ".commtrail-demo"


def run_demo(folder: Path, console: Console) -> int:
    """Write the sample inputs and case into ``folder`` (replacing an earlier demo there) and run
    ingest, stats, exports, the report and verify on it; end with a court bundle and its verify."""
    folder = Path(folder).absolute()
    if folder.exists():
        if not (folder / MARKER).exists():
            raise UsageError(f"{folder} exists and is not a commtrail demo folder; it was left alone.",
                             hint="Give the demo a new folder name.")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, mode=0o700)
    (folder / MARKER).write_text("made by commtrail demo\n")
    inputs = write_inputs(folder / "inputs")
    case_dir = folder / "case"
    case_dir.mkdir(mode=0o700)
    (case_dir / "case.toml").write_text(CASE_TOML, encoding="utf-8")
    console.print(f"Sample inputs written to {folder / 'inputs'}", markup=False)
    code = ingest_and_build(case_dir, [str(p) for p in inputs], console)
    case = Case(case_dir)
    print_stats(case, console)
    exports = [export(case, fmt)[0] for fmt in ("csv", "xlsx", "jsonl")]
    written = exports + write_report(case, warn=lambda notice: console.print(f"Warning: {notice}", markup=False))
    write_manifest(case, written + [export_record(case, path) for path in exports])
    written = [path for path in written if path.parent != records_dir(case)]   # the files, not what they were made from
    result = verify(case)
    console.print(f"verify: {'OK' if result.ok else 'FAILED'} ({result.checked} files checked)", markup=False)
    console.print(f"\nThe sample case is in {case_dir}", markup=False)
    console.print(f"  master evidence file: {case.master_file}", markup=False)
    for path in written:
        console.print(f"  {path}", markup=False)
    bundle = write_bundle(case, folder / "bundle")
    checked = verify_bundle(bundle.path)
    console.print(f"  court bundle (BagIt, {bundle.files} files; verify: {'OK' if checked.ok else 'FAILED'}, "
                  f"{checked.checked} files checked): {bundle.path}", markup=False)
    console.print("Open report.html (in a web browser) or report.pdf to read the report.", markup=False)
    return code if result.ok and checked.ok else 1


__all__ = ["run_demo"]
