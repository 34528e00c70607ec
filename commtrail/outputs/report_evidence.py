"""The report's section on evidence files: each screenshot, photo, recording and document with its
thumbnail, hash, time and how the time is known, the text OCR read, and the exhibits it shows.

A report on all parties lists every evidence file; a report on one party lists the screenshots
that show one of that party's messages (an evidence file names no party itself).
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from commtrail.case import Case
from commtrail.outputs.report_words import words
from commtrail.outputs.screenshot_cells import ScreenshotCells
from commtrail.outputs.thumbnails import thumbnail


def evidence_rows(master: pa.Table, listed: pa.Table, shots: ScreenshotCells, all_parties: bool) -> pa.Table:
    """The master's evidence rows the report lists (see the module's docstring), exhibit order."""
    rows = master.filter(pc.fill_null(pc.equal(master["channel"], "evidence"), False))
    if all_parties or rows.num_rows == 0:
        return rows
    wanted = set(listed["event_id"].to_pylist())
    keep = [any(e in wanted for e in shots.links.shows.get(event_id, [])) for event_id in rows["event_id"].to_pylist()]
    return rows.filter(pa.array(keep, pa.bool_()))


def evidence_cells(case: Case, row: dict, shots: ScreenshotCells, base: dict) -> dict:
    """The texts and the thumbnail of one evidence item; ``base`` is its exhibit_cells."""
    v = words()["evidence"]
    extra = json.loads(row["extra"]) if row["extra"] else {}
    attachment = (row["attachments"] or [{}])[0]
    sha = attachment.get("sha256")
    about = [v["kind"].get(row["kind"], row["kind"] or "")]
    if extra.get("width"):
        about.append(v["size"].format(width=extra["width"], height=extra["height"]))
    if row["duration_s"] is not None:
        about.append(v["duration"].format(minutes=row["duration_s"] // 60, seconds=row["duration_s"] % 60))
    how = v["time_from"].get(extra.get("time_from"), v["undated"]).format(pattern=extra.get("name_pattern", ""))
    ocr: list[str] = []
    if row["kind"] == "screenshot":
        if "ocr_text" not in extra:
            ocr.append(v["ocr_not_run"])
        else:
            ocr.append(extra["ocr_text"] or v["ocr_none"])
            confidence = extra.get("ocr_confidence")
            ocr.append(v["ocr_engine"].format(engine=extra.get("ocr_engine", ""),
                                              languages=extra.get("ocr_languages", ""),
                                              confidence="-" if confidence is None else confidence))
    shows = shots.shows(row["event_id"])
    links = [v["shows"].format(exhibits=", ".join(shows))] if shows else []
    if not shows and extra.get("ocr_text"):
        links.append(v["shows_none"])
    links += [v["only"].format(line=line, text=text) for line, text in shots.only(row["event_id"])]
    image = (attachment.get("mime") or "").startswith("image/")
    picture = thumbnail(case.blobs / sha) if image and sha and (case.blobs / sha).exists() else None
    return {"exhibit": base["exhibit"], "date": base["date"], "time": base["time"], "how": how,
            "name": attachment.get("name") or "", "about": " \u00b7 ".join(a for a in about if a),
            "sha256": sha or "", "ocr": ocr, "links": links, "thumbnail": picture,
            "path": base["source"] if base["source"] != attachment.get("name") else "",
            "no_thumbnail": v["no_thumbnail"] if image and picture is None else ""}
