"""case.toml: the template, validation messages with key and line."""

import pytest

from commtrail.case import Case, init_case, load_config
from commtrail.errors import CaseError

from conftest import CASE_TOML


def write(tmp_path, text):
    path = tmp_path / "case.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_init_writes_a_template_that_loads(tmp_path):
    init_case(tmp_path / "c", timezone="America/New_York", region="us")
    config = Case(tmp_path / "c").config
    assert (config.timezone, config.phone_region, config.title) == ("America/New_York", "US", "c")
    assert (tmp_path / "c").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "c" / "case.toml").stat().st_mode & 0o777 == 0o600


def test_init_refuses_to_overwrite(tmp_path):
    init_case(tmp_path / "c")
    with pytest.raises(CaseError, match="already holds a case.toml"):
        init_case(tmp_path / "c")


def test_full_config_normalises_and_links(tmp_path):
    config = load_config(write(tmp_path, CASE_TOML))
    assert config.owner().phones == frozenset({"+447700900999"})
    assert config.links["+447700900123"].party == "Jordan"
    assert config.links["+447700900123"].key == "party[1].phones[1]"
    assert config.links["+447700900123"].line == 15
    assert config.links["jordan.k@example.com"].key == "party[1].emails[1]"
    assert config.links["wa:Jordan"].party == "Jordan"
    assert config.events[0].when_utc.isoformat() == "2024-03-01T18:30:00+00:00"


@pytest.mark.parametrize("old,new,message", [
    ('timezone = "Europe/London"', 'timezone = "Europe/Lundon"',
     "case.toml (line 4, [case] timezone): 'Europe/Lundon' is not a known time zone."),
    ('phones = ["07700 900123", "+44 7700 900456"]', 'phones = ["07700 900123", "12"]',
     "case.toml (line 15, [party[1]] phones): '12' is not a phone number for region GB."),
    ('title = "Test case"\n', '',
     "case.toml (line 2, [case]): the key 'title' is missing."),
    ('kind = "no_contact_request"', 'kind = "nocontact"',
     "case.toml (line 21, [event[1]] kind): event kind 'nocontact' is not one of"),
    ('date = "2024-03-01T18:30"', 'date = "first of March"',
     "case.toml (line 20, [event[1]] date): 'first of March' is not a date and time."),
])
def test_validation_names_key_and_line(tmp_path, old, new, message):
    assert old in CASE_TOML
    path = write(tmp_path, CASE_TOML.replace(old, new))
    with pytest.raises(CaseError) as info:
        load_config(path)
    assert info.value.render().startswith(str(path).replace("case.toml", "") + message)


@pytest.mark.parametrize("key", ["Europe/London", "UTC", "Etc/UTC", "Factory", "posixrules", "right/UTC",
                                 "posix/Europe/London", "localtime", "Europe/Lundon"])
def test_listed_zone_answers_as_the_whole_list(key):
    """The quick look in tzdata's list of zones gives the verdict the whole list gives."""
    from zoneinfo import available_timezones
    from commtrail.case import _listed_zone
    assert _listed_zone(key) == (key == "UTC" or key in available_timezones())


def test_timezone_zoneinfo_opens_but_does_not_list_is_refused(tmp_path):
    path = write(tmp_path, CASE_TOML.replace('timezone = "Europe/London"', 'timezone = "posixrules"'))
    with pytest.raises(CaseError, match="'posixrules' is not a known time zone"):
        load_config(path)


def test_broken_toml_is_a_case_error(tmp_path):
    with pytest.raises(CaseError, match="not valid TOML"):
        load_config(write(tmp_path, "[case\ntitle = 1"))


def test_identifier_for_two_parties_is_refused(tmp_path):
    text = CASE_TOML + '\n[[party]]\nname = "Alex"\nphones = ["+447700900123"]\n'
    with pytest.raises(CaseError, match="listed for both Jordan and Alex"):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize("title", [
    'Smith "J" \\ case', "two\nlines\tand a tab", "Ünïcödé – 案件 \U0001f642", "ctrl \x01 del \x7f",
    "{timezone} {region}", "",
])
def test_init_writes_valid_toml_whatever_the_title(tmp_path, title):
    init_case(tmp_path / "c", title=title)
    assert Case(tmp_path / "c").config.title == title


@pytest.mark.parametrize("folder", ['say "hi"', "back\\slash", "caf\u00e9 \U0001f642", "line\nbreak"])
def test_init_writes_valid_toml_whatever_the_folder_name(tmp_path, folder):
    init_case(tmp_path / folder)
    config = Case(tmp_path / folder).config
    assert (config.title, config.timezone, config.phone_region) == (folder, "Europe/London", "GB")


def test_init_title_from_a_folder_name_that_is_not_utf8(tmp_path):
    import os
    folder = tmp_path / os.fsdecode(b"case-\xff")
    init_case(folder)
    assert Case(folder).config.title == "case-\ufffd"


def test_ocr_languages_default_given_and_refused(tmp_path):
    assert load_config(write(tmp_path, CASE_TOML)).ocr_languages == ("eng",)
    given = CASE_TOML.replace('phone_region = "GB"\n', 'phone_region = "GB"\nocr_languages = ["eng", "chi_sim"]\n')
    assert load_config(write(tmp_path, given)).ocr_languages == ("eng", "chi_sim")
    path = write(tmp_path, given.replace('"chi_sim"', '"../x"'))
    with pytest.raises(CaseError) as info:
        load_config(path)
    assert info.value.render().startswith(
        f"{path} (line 6, [case] ocr_languages): '../x' is not a Tesseract language code.")
