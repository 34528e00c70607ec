"""``report.html``: one self-contained file (CSS inline, charts as data URIs, no external resource)."""

from __future__ import annotations

import base64
import hashlib
from html import escape
from pathlib import Path
from typing import TextIO

from commtrail.case import Case
from commtrail.atomic import atomic_path
from commtrail.inventory import source_name
from commtrail.outputs.report_data import TOOL, ReportData, exhibit_cells, incident_cells, section_keys
from commtrail.outputs.report_evidence import evidence_cells
from commtrail.outputs.report_words import words

CSS = """
body{font-family:"DejaVu Sans",Verdana,Arial,sans-serif;font-size:14px;line-height:1.4;color:#111;margin:0 auto;
max-width:1200px;padding:1em 2em}
h1{font-size:1.8em;margin:.2em 0}h2{font-size:1.4em;border-bottom:2px solid #333;margin-top:2em}h3{font-size:1.15em}
table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}
th,td{border:1px solid #bbb;padding:3px 5px;vertical-align:top;text-align:left}
thead th{background:#e8e8e8;position:sticky;top:0}
td.text{white-space:pre-wrap;overflow-wrap:anywhere;min-width:20em}
td.mono,span.mono{font-family:"DejaVu Sans Mono",Consolas,monospace;font-size:.85em;overflow-wrap:anywhere}
.small{font-size:.85em;color:#444}.note{color:#8a1c1c}.banner{border:3px solid #8a1c1c;color:#8a1c1c;
font-weight:bold;padding:.6em;margin:1em 0}
dl.cover{display:grid;grid-template-columns:max-content 1fr;gap:.3em 1em}dl.cover dt{font-weight:bold}
dl.cover dd{margin:0;overflow-wrap:anywhere}
td.thumb img{max-width:160px;max-height:320px}
figure{margin:1em 0}figure img{max-width:100%}figcaption{font-size:.9em;color:#333}
@media print{thead{display:table-header-group}tr{break-inside:auto}h2{break-before:page}thead th{position:static}}
"""


def content_security_policy(css: str = CSS) -> str:
    """The report's Content-Security-Policy: its own style sheet (by hash) and data: images, nothing
    else — no script, no font, no frame, no request to any address, no form."""
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
    return (f"default-src 'none'; style-src 'sha256-{digest}'; img-src data:; base-uri 'none'; "
            f"form-action 'none'")


def _e(text: object) -> str:
    return escape("" if text is None else str(text), quote=True)


def write_html(case: Case, data: ReportData, target: Path) -> Path:
    """Write the HTML report atomically; returns its path."""
    with atomic_path(target) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as out:
            _write(case, data, out)
    return target


def _write(case: Case, data: ReportData, out: TextIO) -> None:
    w = words()
    s = w["sections"]
    c = w["cover"]
    out.write(f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
              f'<meta http-equiv="Content-Security-Policy" content="{content_security_policy()}">'
              f'<meta name="generator" content="{TOOL} {_e(data.version)}">'
              f"<title>{_e(data.title)}</title><style>{CSS}</style></head><body>\n")
    # cover
    out.write(f'<header><p class="small">{_e(c["heading"])}</p><h1>{_e(data.title)}</h1><dl class="cover">')
    parties = ", ".join(data.parties) + (f" ({c['party_all']})" if data.all_parties else "")
    period = f"{data.period[0]} \u2013 {data.period[1]}" if data.period else c["period_none"]
    for label, value in ((c["parties"], parties), (c["owner"], data.owner), (c["period"], period),
                         (c["timezone"], data.timezone), (c["events_listed"], data.listed_words()),
                         *([(c["selection"], data.selection_words("cover"))] if data.selection else []),
                         (w["numbering"]["label"], data.numbering),
                         (c["generated_by"], f"{TOOL} {data.version}"),
                         (c["generated_at"], data.generated_at or c["no_timestamp"])):
        out.write(f"<dt>{_e(label)}</dt><dd>{_e(value)}</dd>")
    out.write(f'<dt>{_e(c["master_hash"])}</dt><dd><span class="mono">{_e(data.master_sha256)}</span></dd></dl>')
    if data.unlinked:
        out.write(f'<p class="small">{_e(data.unlinked_words())}</p>')
    out.write(f"<nav><h3>{_e(c['contents'])}</h3><ol>")
    for key in section_keys(data):
        out.write(f'<li><a href="#{key}">{_e(s[key])}</a></li>')
    out.write("</ol></nav></header>\n")

    # summary
    out.write(f'<section id="summary"><h2>{_e(s["summary"])}</h2><p class="small">{_e(w["summary"]["intro"])}</p>')
    for sec in data.sections:
        out.write(f"<h3>{_e(sec.name)}</h3>")
        for sentence in sec.sentences:
            out.write(f'<p dir="auto">{_e(sentence)}</p>')
        out.write(f'<table class="figures"><thead><tr><th>{_e(w["summary"]["figure"])}</th>'
                  f'<th>{_e(w["summary"]["value"])}</th></tr></thead><tbody>')
        for label, value in sec.figures:
            out.write(f"<tr><td>{_e(label)}</td><td>{_e(value)}</td></tr>")
        out.write("</tbody></table>")
    out.write("</section>\n")

    # charts
    out.write(f'<section id="charts"><h2>{_e(s["charts"])}</h2>')
    for sec in data.sections:
        for path, caption in sec.charts:
            png = base64.b64encode(Path(path).read_bytes()).decode("ascii")
            out.write(f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{png}">'
                      f"<figcaption>{_e(caption)}</figcaption></figure>")
    out.write("</section>\n")

    # exhibit log
    e = w["exhibits"]
    who = ", ".join(data.parties)
    out.write(f'<section id="exhibits"><h2>{_e(s["exhibits"])}</h2>'
              f'<p class="small">{_e(e["intro"].format(who=who, zone=data.timezone))}</p>')
    if data.selection:
        out.write(f'<p class="banner">{_e(data.selection_words("exhibits"))}</p>')
    if data.late_note:
        out.write(f'<p class="small">{_e(data.late_note)}</p>')
    if data.exhibits.num_rows == 0:
        out.write(f"<p>{_e(e['none'])}</p>")
    else:
        heads = [e["col_number"], e["col_date"], e["col_channel_name"],
                 e["col_direction"], e["col_identifier"], e["col_text"], e["col_attachments"], e["col_source"]]
        if len(data.parties) > 1:
            heads.insert(4, e["col_party"])
        out.write('<table class="log"><thead><tr>' + "".join(f"<th>{_e(h)}</th>" for h in heads) +
                  "</tr></thead><tbody>\n")
        links = case.config.links
        shown = data.shown
        for batch in data.exhibit_batches():
            parts = []
            for row in batch:
                cell = exhibit_cells(row, links, shown, data.shots)
                party = f"<td>{_e(row['party'])}</td>" if len(data.parties) > 1 else ""
                notes = "".join(f'<br><span class="note">{_e(n)}</span>' for n in cell["notes"])
                atts = "<br>".join(f'<span class="mono">{_e(a)}</span>' for a in cell["attachments"])
                copies = f'<br><span class="small">{_e(cell["copies"])}</span>' if cell["copies"] else ""
                parts.append(
                    f'<tr id="{_e(cell["exhibit"])}"><td>{_e(cell["exhibit"] + cell["mark"])}</td>'
                    f'<td>{_e(cell["date"])}<br>{_e(cell["time"])}</td><td>{_e(cell["channel"])}</td>'
                    f'<td>{_e(cell["direction"])}</td>{party}<td>{_e(cell["who"])}</td>'
                    f'<td class="text" dir="auto">{_e(cell["text"])}{notes}</td><td>{atts}</td>'
                    f'<td><span class="mono">{_e(cell["source"])}</span><br>{_e(cell["locator"])}{copies}</td></tr>\n')
            out.write("".join(parts))
        out.write("</tbody></table>")
    out.write("</section>\n")

    _notes(data, out)

    # incidents
    i = w["incidents"]
    intro, none = data.incident_words()
    out.write(f'<section id="incidents"><h2>{_e(s["incidents"])}</h2><p class="small">{_e(intro)}</p>')
    if data.incidents.num_rows == 0:
        out.write(f"<p>{_e(none)}</p>")
    else:
        heads = [i["col_when"], i["col_where"], i["col_what"], i["col_details"], i["col_evidence"]]
        out.write('<table class="log"><thead><tr>' + "".join(f"<th>{_e(h)}</th>" for h in heads) +
                  "</tr></thead><tbody>\n")
        shown = data.shown
        for row in data.incidents.to_pylist():
            cell = incident_cells(row, shown)
            notes = "".join(f'<br><span class="note">{_e(n)}</span>' for n in cell["notes"])
            atts = "<br>".join(f'<span class="mono">{_e(a)}</span>' for a in cell["attachments"])
            out.write(f'<tr id="{_e(cell["exhibit"])}"><td>{_e(cell["exhibit"])}<br>{_e(cell["date"])}<br>'
                      f'{_e(cell["time"])}<br><span class="small">\u201c{_e(cell["ts_local"])}\u201d</span></td>'
                      f'<td dir="auto">{_e(cell["location"])}</td><td class="text" dir="auto">{_e(cell["text"])}'
                      f'{notes}</td><td class="text" dir="auto">{_e(chr(10).join(cell["details"]))}</td>'
                      f'<td>{atts}<br><span class="mono">{_e(cell["source"])}</span><br>{_e(cell["locator"])}'
                      "</td></tr>\n")
        out.write("</tbody></table>")
    out.write("</section>\n")

    _undated(data, out)
    _evidence(case, data, out)

    # identifiers
    d = w["identifiers"]
    out.write(f'<section id="identifiers"><h2>{_e(s["identifiers"])}</h2>')
    for sec in data.sections:
        out.write(f'<h3>{_e(sec.name)}</h3><p class="small">{_e(d["intro"].format(party=sec.name))}</p>')
        heads = [d["col_identifier"], d["col_first"], d["col_last"], d["col_events"], d["col_link"]]
        out.write("<table><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in heads) + "</tr></thead><tbody>")
        for r in sec.identifiers:
            link = r["link"]
            linked = d["link"].format(key=link.key, line=link.line, raw=link.raw) if link else d["no_link"]
            check = f'<br><span class="small">{_e(r["check"])}</span>' if r["check"] else ""
            out.write(f'<tr><td dir="auto">{_e(r["shown"])}{check}</td><td>{_e(r["first"] or d["never_seen"])}</td>'
                      f'<td>{_e(r["last"] or "")}</td><td>{r["events"]:,}</td><td>{_e(linked)}</td></tr>')
        out.write("</tbody></table>")
    out.write("</section>\n")

    # sources
    src = w["sources"]
    out.write(f'<section id="sources"><h2>{_e(s["sources"])}</h2><p class="small">{_e(src["intro"])}</p>')
    heads = [src["col_path"], src["col_sha"], src["col_size"], src["col_format"], src["col_counts"]]
    out.write("<table><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in heads) + "</tr></thead><tbody>")
    for r in data.sources:
        warn = "".join(f'<br><span class="note">{_e(x)}</span>' for x in (r["warnings"] or []))
        out.write(f'<tr><td><b>{_e(source_name(r["shown"]))}</b><br><span class="mono">{_e(r["shown"])}</span>{warn}</td>'
                  f'<td><span class="mono">{_e(r["sha256"])}</span></td><td>{r["size"]:,}</td>'
                  f'<td>{_e(r["format"])}<br>{_e(r["parser"])}</td>'
                  f'<td>{r["records"]:,} / {r["rejects"]:,} / {r["repairs"]:,}</td></tr>')
    out.write(f'</tbody></table><h3>{_e(src["rejects_heading"])}</h3>')
    if data.rejects:
        out.write(f'<table><thead><tr><th>{_e(src["col_path"])}</th><th>{_e(src["col_reason"])}</th>'
                  f'<th>{_e(src["col_count"])}</th></tr></thead><tbody>')
        for path, reason, count in data.rejects:
            out.write(f'<tr><td><span class="mono">{_e(path)}</span></td><td>{_e(reason)}</td><td>{count:,}</td></tr>')
        out.write("</tbody></table>")
    else:
        out.write(f"<p>{_e(src['no_rejects'])}</p>")
    deleted = (src["deleted"].format(total=f"{data.deleted_total:,}", listed=f"{data.deleted_listed:,}")
               if data.deleted_total is not None else src["deleted_none"])
    out.write(f"<p>{_e(deleted)}</p>")
    if data.shots.links.built:
        out.write(f"<p>{_e(only_in_screenshot_text(data))}</p>")
    out.write("</section>\n")

    # certification
    cert = certification_text(data)
    out.write(f'<section id="certification"><h2>{_e(s["certification"])}</h2>'
              f'<div class="banner">{_e(w["certification"]["banner"])}</div>')
    for para in cert:
        out.write(f"<p>{_e(para)}</p>")
    out.write("</section>\n</body></html>\n")


def _notes(data: ReportData, out: TextIO) -> None:
    """The reviewer's notes on the listed events (only in a report of a selection)."""
    if data.selection is None:
        return
    w = words()
    n = w["notes"]
    out.write(f'<section id="notes"><h2>{_e(w["sections"]["notes"])}</h2><p class="banner">{_e(n["intro"])}</p>')
    if not data.notes:
        out.write(f"<p>{_e(n['none'])}</p></section>\n")
        return
    heads = [n["col_exhibit"], n["col_starred"], n["col_tags"], n["col_note"], n["col_written"]]
    out.write('<table class="notes"><thead><tr>' + "".join(f"<th>{_e(h)}</th>" for h in heads) +
              "</tr></thead><tbody>\n")
    for r in data.notes:
        out.write(f'<tr><td><a href="#{_e(r["exhibit"])}">{_e(r["exhibit"])}</a></td>'
                  f'<td>{_e(n["starred"] if r["starred"] else "")}</td><td dir="auto">{_e(", ".join(r["tags"]))}</td>'
                  f'<td class="text" dir="auto">{_e(r["note"])}</td><td>{_e(r["written"])}</td></tr>\n')
    out.write("</tbody></table></section>\n")


def _undated(data: ReportData, out: TextIO) -> None:
    """The section listing the events with no time (only when there are some)."""
    if not data.undated:
        return
    w = words()
    u, e = w["undated"], w["exhibits"]
    heads = [e["col_number"], e["col_channel_name"], e["col_direction"], e["col_identifier"], e["col_text"],
             e["col_source"], u["col_reason"]]
    out.write(f'<section id="undated"><h2>{_e(w["sections"]["undated"])}</h2><p class="small">{_e(u["intro"])}</p>'
              '<table class="log"><thead><tr>' + "".join(f"<th>{_e(h)}</th>" for h in heads) + "</tr></thead><tbody>\n")
    for cell in data.undated:
        out.write(f'<tr><td><a href="#{_e(cell["exhibit"])}">{_e(cell["exhibit"])}</a></td><td>{_e(cell["channel"])}</td>'
                  f'<td>{_e(cell["direction"])}</td><td>{_e(cell["who"])}</td>'
                  f'<td class="text" dir="auto">{_e(cell["text"])}</td><td><span class="mono">{_e(cell["source"])}'
                  f'</span><br>{_e(cell["locator"])}</td><td>{_e(cell["reason"])}</td></tr>\n')
    out.write("</tbody></table></section>\n")


def _evidence(case: Case, data: ReportData, out: TextIO) -> None:
    """The section on evidence files (only when the report lists some), thumbnails as JPEG data URIs."""
    if data.evidence is None or data.evidence.num_rows == 0:
        return
    w = words()
    v = w["evidence"]
    intro = v["intro"] if data.all_parties else v["intro_party"].format(party=", ".join(data.parties))
    heads = [v["col_item"], v["col_picture"], v["col_file"], v["col_text"]]
    out.write(f'<section id="evidence"><h2>{_e(w["sections"]["evidence"])}</h2><p class="small">{_e(intro)}</p>'
              '<table class="log"><thead><tr>' + "".join(f"<th>{_e(h)}</th>" for h in heads) + "</tr></thead><tbody>\n")
    for row in data.evidence.to_pylist():
        c = evidence_cells(case, row, data.shots, exhibit_cells(row, case.config.links, data.shown))
        jpeg = base64.b64encode(c["thumbnail"]).decode("ascii") if c["thumbnail"] else ""
        picture = (f'<img alt="{_e(c["name"])}" src="data:image/jpeg;base64,{jpeg}">' if jpeg
                   else f'<span class="small">{_e(c["no_thumbnail"])}</span>')
        ocr = (f'<b>{_e(v["ocr"])}</b><br><span dir="auto">{_e(c["ocr"][0])}</span>'
               + "".join(f'<br><span class="small">{_e(x)}</span>' for x in c["ocr"][1:])) if c["ocr"] else ""
        shows = "".join(f'<br><span class="note">{_e(x)}</span>' for x in c["links"])
        out.write(f'<tr id="{_e(c["exhibit"])}"><td>{_e(c["exhibit"])}<br>{_e(c["date"])}<br>{_e(c["time"])}<br>'
                  f'<span class="small">{_e(c["how"])}</span></td><td class="thumb">{picture}</td>'
                  f'<td><b dir="auto">{_e(c["name"])}</b><br>{_e(c["about"])}<br>'
                  f'<span class="mono">SHA-256 {_e(c["sha256"])}</span><br><span class="mono">{_e(c["path"])}</span>'
                  f'</td><td class="text">{ocr}{shows}</td></tr>\n')
    out.write("</tbody></table></section>\n")


def only_in_screenshot_text(data: ReportData) -> str:
    """The sentence, beside the possibly-deleted one, counting messages seen only in a screenshot."""
    return words()["sources"]["only_in_screenshot"].format(total=f"{data.shots.links.only_count:,}",
                                                           listed=f"{data.only_listed:,}")


def certification_text(data: ReportData) -> list[str]:
    """The paragraphs of the draft certification, filled in."""
    w = words()["certification"]
    parsers = sorted({r["parser"] for r in data.sources if r["parser"]})
    values = {"owner": data.owner, "sources": f"{len(data.sources):,}", "tool": TOOL, "version": data.version,
              "master_sha": data.master_sha256, "rejects": f"{sum(r['rejects'] for r in data.sources):,}",
              "parsers": ", ".join(parsers) or "none"}
    return [p.format(**values) for p in w["body"]] + [w["method"].format(**values)]
