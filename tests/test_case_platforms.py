"""case.toml keys for platform accounts: telegram_ids, messenger_names, instagram_names."""

import pytest

from commtrail.case import load_config
from commtrail.errors import CaseError
from commtrail.timeline.identity import describe, kind_of

from conftest import CASE_TOML, new_case

PLATFORMS = CASE_TOML.replace('whatsapp_names = ["Sam"]', 'whatsapp_names = ["Sam"]\ntelegram_ids = ["5550199"]\n'
                              'messenger_names = ["Sam Smith"]').replace(
    'whatsapp_names = ["Jordan"]', 'whatsapp_names = ["Jordan"]\ntelegram_ids = ["user5550101"]\n'
    'instagram_names = ["jordan.example"]\nmessenger_names = ["Jordan Example"]\nsignal_ids = ["1b2c3d4e"]')


def test_platform_keys_link_parties_and_the_owner(tmp_path):
    path = tmp_path / "case.toml"
    path.write_text(PLATFORMS, encoding="utf-8")
    config = load_config(path)
    assert config.owner().platform_ids == frozenset({"tg:user5550199", "fb:Sam Smith"})
    assert {"tg:user5550199", "fb:Sam Smith"} <= config.owner_ids()
    assert config.parties[0].platform_ids == ["tg:user5550101", "fb:Jordan Example", "ig:jordan.example",
                                              "signal:1b2c3d4e"]
    link = config.links["tg:user5550101"]
    assert (link.party, link.key, link.raw, link.line) == ("Jordan", "party[1].telegram_ids[1]", "user5550101", 20)
    assert config.links["ig:jordan.example"].key == "party[1].instagram_names[1]"
    assert config.links["fb:Jordan Example"].party == "Jordan"


def test_platform_identifiers_in_words():
    assert (kind_of("tg:user5550101"), describe("tg:user5550101")) == ("telegram", "Telegram account \u201cuser5550101\u201d")
    assert describe("fb:Jordan Example") == "Messenger name \u201cJordan Example\u201d"
    assert describe("ig:jordan.example") == "Instagram name \u201cjordan.example\u201d"


def test_a_platform_key_must_be_a_list_of_texts(tmp_path):
    path = tmp_path / "case.toml"
    path.write_text(PLATFORMS.replace('telegram_ids = ["user5550101"]', "telegram_ids = [5550101]"), encoding="utf-8")
    with pytest.raises(CaseError, match="'telegram_ids' must be a list of texts"):
        load_config(path)


def test_platform_ids_resolve_parties_end_to_end(tmp_path, capsys):
    import shutil

    from commtrail.case import Case
    from commtrail.cli import main
    from commtrail.timeline.master import read_master

    from conftest import FIXTURES
    case_dir = new_case(tmp_path / "case", PLATFORMS)
    inputs = tmp_path / "in"
    shutil.copytree(FIXTURES / "telegram" / "chat", inputs / "telegram")
    shutil.copytree(FIXTURES / "snapchat" / "new", inputs / "snapchat")
    assert main(["ingest", str(case_dir), str(inputs)]) == 0
    rows = read_master(Case(case_dir)).to_pylist()
    assert len(rows) == 13
    assert {(r["channel"], r["party"]) for r in rows} == {("telegram", "Jordan"), ("snapchat", None)}
    out = capsys.readouterr().out
    assert "holds only part of the conversation" in out      # the Snapchat source says it is partial
