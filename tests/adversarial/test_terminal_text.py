"""Issue 14.3: nothing a user or a source supplies is read as terminal markup, emoji codes or
escape sequences; it is printed exactly as it is."""

from __future__ import annotations

import io
import zipfile

from rich.console import Console

from commtrail.case import Case
from commtrail.cli import main
from commtrail.ingest.console import summary_table
from commtrail.ingest.runner import ingest

from conftest import CASE_TOML

CHAT = (b"13/03/2024, 18:30 - Jordan: hello\n"
        b"13/03/2024, 18:31 - Sam: [bold red]RED[/] :smile:\n")


def _case(tmp_path):
    root = tmp_path / "case"
    root.mkdir()
    (root / "case.toml").write_text(CASE_TOML.replace('name = "Jordan"', 'name = "[bold]Jo[/]rdan"')
                                    .replace('whatsapp_names = ["Jordan"]', 'whatsapp_names = ["Jordan", "[/]"]'),
                                    encoding="utf-8")
    return root


def test_file_names_with_markup_print_as_they_are(tmp_path, capsys):
    case = _case(tmp_path)
    given = tmp_path / "in"
    given.mkdir()
    (given / "[bold red]RED[link=x]z.txt").write_bytes(b"no format at all\n")
    (given / ":smile: chat.txt").write_bytes(CHAT)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("x[/]y/chat.txt", CHAT.replace(b"hello", b"hi"))
    (given / "export.zip").write_bytes(buf.getvalue())
    code = main(["ingest", str(case), str(given)])
    out, err = capsys.readouterr()
    assert code == 1   # the file of no known format
    assert "failed unexpectedly" not in err and "Traceback" not in out + err
    # the two chats are one conversation with Jordan (identified by content): Sam's line is one event
    assert "master.parquet: 3 events." in out and "\U0001f604" not in out
    assert err.count("Error: ") == 1
    assert f"Error: {given}/[bold red]RED[link=x]z.txt: commtrail does not recognise" in err
    # the summary table, wide enough that no name is folded
    result = ingest(Case(case), [str(given)])
    wide = Console(file=io.StringIO(), width=400, highlight=False, emoji=False)
    wide.print(summary_table(result))
    table = wide.file.getvalue()
    # each input by its name, the folder inside what was given on the next line, markup as written
    lines = [line.rstrip() for line in table.splitlines()]
    for name in ("[bold red]RED[link=x]z.txt", ":smile: chat.txt"):
        assert any(line.startswith(f"{name} ") for line in lines), table
    at = next(n for n, line in enumerate(lines) if line.startswith("chat.txt "))
    assert lines[at + 1] == "export.zip!x[/]y/", table
    code = main(["stats", str(case)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "[bold]Jo[/]rdan" in out and "\U0001f604" not in out


def test_control_characters_in_names_never_reach_the_terminal(tmp_path, capsys):
    case = _case(tmp_path)
    bad = tmp_path / "a\x1b[31mred\x07.txt"
    bad.write_bytes(b"no format at all\n")
    code = main(["ingest", str(case), str(bad)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert "a\\x1b[31mred\\x07.txt: commtrail does not recognise" in err


def test_an_error_naming_a_file_prints_it_plainly(tmp_path, capsys):
    code = main(["stats", str(tmp_path / "[red]no[/] case\x1b")])
    out, err = capsys.readouterr()
    assert code == 2
    assert "[red]no[/] case\\x1b" in err and "\x1b" not in err
