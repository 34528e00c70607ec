"""XML that attacks its reader: entity expansion (billion laughs, quadratic blowup), external
entities and DTDs (file:// to a real file, http:// to a local server), XInclude. Through every
registered parser that reads XML, and through sniff + `commtrail ingest`: nothing is expanded,
read or fetched, and the result is clear (records with rejects or warnings, or a refusal that
names the file)."""

from __future__ import annotations

import http.server
import re
import tempfile
import threading
from pathlib import Path

import pytest

from bench import fuzz
from commtrail.cli import main
from commtrail.parsers import registry

from conftest import new_case

SECRET = "SECRET-7f3a9c-not-for-the-case"
# An SMS Backup & Restore file in its simplest form: read by the smsbr parsers when they are
# registered, refused as an unknown format otherwise; either way a clear result.
BASIC = (b"<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n<smses count=\"1\">\n"
         b"  <sms protocol=\"0\" address=\"07700 900123\" date=\"1709317808123\" type=\"1\" body=\"hello\" "
         b"read=\"1\" status=\"-1\" />\n</smses>\n")


def xml_seeds() -> list[tuple[str, fuzz.Seed]]:
    """(parser name, seed) for every parser of the package whose seeds are UTF-8 XML."""
    out = []
    for name, seeds in fuzz.seeds_by_parser().items():
        if not registry.get(name).parse.__module__.startswith("commtrail.parsers."):
            continue
        xml = [s for s in seeds if s.data.lstrip(b"\xef\xbb\xbf \r\n\t").startswith(b"<?xml")]
        if xml:
            out.append((name, min(xml, key=lambda s: len(s.data))))
    return out


class Server:
    """A local HTTP server that counts every request (none may come)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.requests.append(self.path)
                body = b'<!ENTITY leak "LEAKED">' if self.path.endswith(".dtd") else SECRET.encode()
                self.send_response(200)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("secret") / "secret.txt"
    path.write_text(SECRET)
    return path


def hostile(doc: bytes, doctype_body: bytes, ref: bytes, system_id: bytes | None = None,
            element: bytes | None = None) -> bytes:
    """``doc`` with a DOCTYPE for its root and ``ref`` at the start of every attribute value of its
    first record (and ``element`` as the record's first child)."""
    decl_end = doc.index(b"?>") + 2 if doc.lstrip().startswith(b"<?xml") else 0
    root = re.search(rb"<([A-Za-z_][\w.-]*)", doc[decl_end:])
    assert root, doc[:200]
    name = root.group(1)
    external = b" SYSTEM \"" + system_id + b"\"" if system_id else b""
    doctype = b"\n<!DOCTYPE " + name + external + (b" [\n" + doctype_body + b"\n]" if doctype_body else b"") + b">\n"
    out = doc[:decl_end] + doctype + doc[decl_end:]
    start = out.index(b">", out.index(b"<" + name, decl_end + len(doctype))) + 1
    record = re.search(rb"<[A-Za-z_][^>]*>", out[start:])
    if record:
        a, b = start + record.start(), start + record.end()
        tag = re.sub(rb'="', b'="' + ref, out[a:b]) if ref else out[a:b]
        if element and not tag.endswith(b"/>"):
            tag += element
        elif element:
            tag = tag[:-2] + b">" + element + b"</" + re.match(rb"<([\w.-]+)", tag).group(1) + b">"
        out = out[:a] + tag + out[b:]
    return out


def attacks(doc: bytes, secret: Path, url: str) -> dict[str, bytes]:
    laughs = b'<!ENTITY lol "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))
    blowup = b'<!ENTITY big "' + b"B" * 50_000 + b'">'
    return {
        "billion laughs": hostile(doc, laughs, b"&lol9;"),
        "quadratic blowup": hostile(doc, blowup, b"&big;" * 2000),
        "external entity, file://": hostile(doc, b'<!ENTITY xxe SYSTEM "file://' + str(secret).encode() + b'">',
                                            b"&xxe;"),
        "external entity, http://": hostile(doc, b'<!ENTITY xxe SYSTEM "' + url.encode() + b'/entity">', b"&xxe;"),
        "parameter entity, http://": hostile(doc, b'<!ENTITY % pe SYSTEM "' + url.encode() + b'/pe.dtd"> %pe;',
                                             b"&leak;"),
        "external DTD, http://": hostile(doc, b"", b"&leak;", system_id=url.encode() + b"/evil.dtd"),
        "XInclude of a file": hostile(doc, b"", b"", element=b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
                                      b'href="file://' + str(secret).encode() + b'" parse="text"/>'),
    }


@pytest.mark.parametrize("name,seed", xml_seeds() or [("-", None)], ids=lambda v: v if isinstance(v, str) else "")
def test_xml_parsers_neither_expand_nor_fetch(name, seed, server, secret_file):
    if seed is None:   # no XML parser is registered: the sniff + ingest test below still runs
        assert not any(s.data.startswith(b"<?xml") for s in fuzz.load_seeds() if s.parser)
        return
    parser = registry.get(name)
    for what, data in attacks(seed.data, secret_file, server.url).items():
        with tempfile.TemporaryDirectory() as tmp:
            result = fuzz.check(parser, data, Path(tmp), name=seed.name, timeout=30)
        crashes = [f for f in result.findings if f.kind in ("crash", "hang", "error-message", "contract")]
        assert not crashes, (what, [f.message for f in crashes])
        text = fuzz.output_text(result.outcome)
        assert SECRET not in text and "LEAKED" not in text, what
        assert "lollollol" not in text and "B" * 100_000 not in text, what
        assert len(text) < 10 * len(data) + 100_000, (what, len(text))
        assert result.outcome.seconds < 10, what
    assert server.requests == []


def test_hostile_xml_through_sniff_and_ingest_gives_a_clear_result(tmp_path, server, secret_file, capsys):
    case = new_case(tmp_path / "case")
    docs = [BASIC] + [seed.data for _, seed in xml_seeds()]
    files = []
    for n, doc in enumerate(docs):
        for k, (what, data) in enumerate(attacks(doc, secret_file, server.url).items()):
            path = tmp_path / "in" / f"{n}" / f"attack-{k}.xml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            files.append(path)
    code = main(["ingest", str(case), *map(str, files)])
    out, err = capsys.readouterr()
    assert code in (0, 1)
    assert "Traceback" not in err and "failed unexpectedly" not in err and "failed while reading" not in err, err
    for line in err.splitlines():
        assert re.match(rf"Error: {re.escape(str(tmp_path))}/in/\d+/attack-\d+\.xml(: | \()", line), line
    assert server.requests == []
    import pyarrow.parquet as pq
    for path in case.rglob("*.parquet"):
        text = str(pq.read_table(path).to_pylist())
        assert SECRET not in text and "LEAKED" not in text and "lollollollol" not in text, path
    assert main(["verify", str(case)]) == 0
