"""Safety replies: right language, right country's numbers, no secrecy promises, safe word.

These tests pin the release-blocking reply rules of reference §6.2 T11/T12: the correct
country helpline, the emergency number for P0, 0% confidentiality promises, working safe word,
and safety mode that never drops a child who answers "no" or "idk".
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from caseline.messages import Reply
from safeguarding.respond import (
    HELPLINES_PATH,
    MAX_BUTTON_TITLE,
    PAYLOAD_CONFIRM,
    PAYLOAD_HUMAN,
    PAYLOAD_OK,
    RESPONSES_DIR,
    SafetyResponder,
    normalise,
)
from safeguarding.responses_check import check_dir
from safeguarding.verdict import Severity, Verdict

REQUIRED_LANGS = ("en", "ru", "uk", "ro", "sr", "tr", "sq", "ar")

# lang -> (country, a helpline number of that country, emergency number)
CASES: dict[str, tuple[str, str, str]] = {
    "en": ("GR", "1056", "112"),
    "ru": ("KZ", "111", "112"),
    "uk": ("UA", "116 111", "112"),
    "ro": ("RO", "116 111", "112"),
    "sr": ("RS", "116 111", "112"),
    "tr": ("TR", "183", "112"),
    "sq": ("AL", "116 111", "112"),
    "ar": ("IT", "19696", "112"),
}

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "en": ("won't tell anyone", "will not tell anyone", "nobody will know", "no one will know",
           "our secret", "between us", "keep it secret", "keep this secret", "confidential",
           "i promise", "i am human", "i'm a real person", "i am a therapist", "stays here"),
    "ru": ("никому не скажу", "никто не узнает", "наш секрет", "между нами", "конфиденциально",
           "останется между", "обещаю", "я человек", "я психолог"),
    "uk": ("нікому не скажу", "ніхто не дізнається", "наш секрет", "між нами", "конфіденційно",
           "залишиться між", "обіцяю", "я людина", "я психолог"),
    "ro": ("nu spun nimanui", "nu voi spune nimanui", "nimeni nu va afla", "secretul nostru",
           "intre noi", "confidential", "promit", "sunt om", "sunt psiholog"),
    "sr": ("necu nikome reci", "niko nece saznati", "nasa tajna", "medju nama", "poverljivo",
           "obecavam", "ja sam covek", "ja sam psiholog"),
    "tr": ("kimseye soylemeyecegim", "kimse bilmeyecek", "sirrimiz", "aramizda kalacak",
           "gizli kalacak", "soz veriyorum", "ben insanim", "ben psikologum"),
    "sq": ("nuk do ti tregoj askujt", "askush nuk do ta marre vesh", "sekreti yne", "mes nesh",
           "konfidencial", "te premtoj", "jam njeri", "jam psikolog"),
    "ar": ("لن أخبر أحدا", "لن يعرف أحد", "سرنا", "بيننا", "سرية", "أعدك", "أنا إنسان",
           "أنا طبيب"),
}

HIGH = Verdict(Severity.HIGH, ("sexual_abuse",))
CRITICAL = Verdict(Severity.CRITICAL, ("suicide",))


@pytest.fixture(scope="module")
def responder() -> SafetyResponder:
    return SafetyResponder.load()


def _text(replies: list[Reply]) -> str:
    return "\n".join(r.as_text() for r in replies)


def _all_replies(responder: SafetyResponder, lang: str, country: str | None) -> list[Reply]:
    out: list[Reply] = []
    for verdict in (HIGH, CRITICAL, Verdict(Severity.MEDIUM, ("bullying",))):
        out += responder.reply(verdict, lang, country)
    for answer in (PAYLOAD_CONFIRM, PAYLOAD_OK, PAYLOAD_HUMAN, "yes", "no", "idk", "ok", "SOS"):
        out += responder.followup(answer, lang, country)
    out += responder.help_details(lang, country)
    out.append(responder.no_worker_message(lang, country, "09:00"))
    return out


def test_required_languages_have_response_files() -> None:
    for lang in REQUIRED_LANGS:
        assert (RESPONSES_DIR / f"{lang}.yml").exists(), lang


@pytest.mark.parametrize("lang", REQUIRED_LANGS)
def test_high_risk_reply_in_language_with_country_helpline(
    responder: SafetyResponder, lang: str
) -> None:
    country, number, emergency = CASES[lang]
    replies = responder.reply(HIGH, lang, country)
    assert 1 <= len(replies) <= 2
    text = _text(replies)
    pack = responder.pack(lang)
    assert pack.code == lang
    assert pack.strings["acknowledge"] in text
    assert pack.strings["not_your_fault"] in text
    assert pack.strings["what_next"] in text
    assert number in text
    assert pack.strings["confirm"] in text
    payloads = [b.payload for b in replies[-1].buttons]
    assert payloads == [PAYLOAD_CONFIRM, PAYLOAD_OK, PAYLOAD_HUMAN]
    safe_word_line = pack.strings["safe_word"].format(safe_word=pack.safe_words[0])
    assert safe_word_line in text
    # high, not critical: the emergency sentence is not pushed when a helpline exists
    assert pack.strings["emergency"].format(emergency=emergency) not in text


@pytest.mark.parametrize("lang", REQUIRED_LANGS)
def test_critical_reply_has_emergency_number(responder: SafetyResponder, lang: str) -> None:
    country, number, emergency = CASES[lang]
    text = _text(responder.reply(CRITICAL, lang, country))
    pack = responder.pack(lang)
    assert pack.strings["emergency"].format(emergency=emergency) in text
    assert pack.strings["are_you_safe"] in text
    assert number in text
    assert pack.strings["not_your_fault"] not in text  # suicide: no blame framing needed


@pytest.mark.parametrize("lang", REQUIRED_LANGS)
def test_language_default_country_when_country_unknown(
    responder: SafetyResponder, lang: str
) -> None:
    text = _text(responder.reply(HIGH, lang, None))
    expected = {"tr": "183", "uk": "116 111", "ro": "116 111", "sr": "116 111", "sq": "116 111",
                "en": "116 111", "ru": "116 111", "ar": "116 111"}[lang]
    assert expected in text


@pytest.mark.parametrize("lang", REQUIRED_LANGS)
@pytest.mark.parametrize("country", ["TR", "UA", "XK", "TJ", "HR", None, "ZZ"])
def test_no_reply_promises_confidentiality_or_claims_humanity(
    responder: SafetyResponder, lang: str, country: str | None
) -> None:
    text = f" {normalise(_text(_all_replies(responder, lang, country)))} "
    for phrase in FORBIDDEN[lang] + FORBIDDEN["en"]:
        assert f" {normalise(phrase)} " not in text, (lang, country, phrase)


@pytest.mark.parametrize("lang", [*REQUIRED_LANGS, "xx"])
def test_button_titles_fit_channels(responder: SafetyResponder, lang: str) -> None:
    for reply in _all_replies(responder, lang, "RS"):
        for button in reply.buttons:
            assert 0 < len(button.title) <= MAX_BUTTON_TITLE, button


def test_unknown_language_falls_back_to_english(responder: SafetyResponder) -> None:
    text = _text(responder.reply(HIGH, "xx", "RO"))
    assert responder.pack("en").strings["acknowledge"] in text
    assert "116 111" in text


def test_croatian_reads_serbian_latin_and_sees_croatian_hours(responder: SafetyResponder) -> None:
    text = _text(responder.help_details("hr", None))
    assert "Hrabri telefon" in text and "pon-pet" in text and "0800 0800" in text


def test_ukrainian_abroad_also_gets_home_line(responder: SafetyResponder) -> None:
    text = _text(responder.reply(HIGH, "uk", "PL"))
    pack = responder.pack("uk")
    assert pack.strings["home_line_intro"] in text
    assert "Ла Страда" in text
    at_home = _text(responder.reply(HIGH, "uk", "UA"))
    assert pack.strings["home_line_intro"] not in at_home


def test_country_without_checked_line_says_so_and_gives_emergency(
    responder: SafetyResponder,
) -> None:
    text = _text(responder.reply(HIGH, "sq", "XK"))
    pack = responder.pack("sq")
    assert pack.strings["no_helpline"] in text
    assert pack.strings["emergency"].format(emergency="112") in text
    assert "0800 11 112" not in text  # unconfirmed number is never shown


@pytest.mark.parametrize("word", ["SOS", "sos", " Sos! ", "HELP", "help", "Yardım", "YARDIM",
                                  "yardim", "помощь", "ПОМОЩЬ", "допомога", "ajutor", "POMOĆ",
                                  "pomoc", "ПОМОЋ", "ndihmë", "ndihme", "مساعدة", "mosa3ada"])
def test_safe_word_recognised(responder: SafetyResponder, word: str) -> None:
    assert responder.is_safe_word(word)


@pytest.mark.parametrize("text", ["", "help me with homework", "sosyal", "hello", "yes"])
def test_not_a_safe_word(responder: SafetyResponder, text: str) -> None:
    assert not responder.is_safe_word(text)


@pytest.mark.parametrize("lang", REQUIRED_LANGS)
def test_safe_word_shows_numbers(responder: SafetyResponder, lang: str) -> None:
    country, number, emergency = CASES[lang]
    text = _text(responder.help_details(lang, country))
    assert number in text and emergency in text
    assert _text(responder.followup("SOS", lang, country)) == text


@pytest.mark.parametrize("lang", REQUIRED_LANGS)
def test_followup_paths(responder: SafetyResponder, lang: str) -> None:
    pack = responder.pack(lang)
    assert pack.strings["followup_yes"] in _text(responder.followup(PAYLOAD_CONFIRM, lang, None))
    assert pack.strings["followup_ok"] in _text(responder.followup(PAYLOAD_OK, lang, None))
    assert pack.strings["followup_human"] in _text(responder.followup(PAYLOAD_HUMAN, lang, None))
    for vague in ("idk", "ok", "no", "???", "what should I do"):
        replies = responder.followup(vague, lang, None)
        text = _text(replies)
        assert pack.strings["followup_other"] in text, vague
        assert pack.strings["helpline_intro"] in text or pack.strings["no_helpline"] in text
        assert any(b.payload == PAYLOAD_HUMAN for b in replies[-1].buttons)


@pytest.mark.parametrize(("lang", "answer", "key"), [
    ("en", "Yes", "followup_yes"), ("en", "I'm OK", "followup_ok"),
    ("en", "talk to a person", "followup_human"), ("tr", "evet", "followup_yes"),
    ("tr", "iyiyim", "followup_ok"), ("ru", "Да", "followup_yes"),
    ("ru", "всё нормально", "followup_ok"), ("ro", "sunt bine", "followup_ok"),
    ("ro", "nu sunt bine", "followup_other"), ("sr", "dobro sam", "followup_ok"),
    ("sr", "nisam dobro", "followup_other"), ("ar", "نعم", "followup_yes"),
    ("ar", "انا بخير", "followup_ok"), ("sq", "po", "followup_yes"),
    ("uk", "так", "followup_yes"), ("uk", "не знаю", "followup_other"),
])
def test_free_text_followups(
    responder: SafetyResponder, lang: str, answer: str, key: str
) -> None:
    assert responder.pack(lang).strings[key] in _text(responder.followup(answer, lang, None))


def test_no_worker_message(responder: SafetyResponder) -> None:
    reply = responder.no_worker_message("tr", "TR", "yarın 09:00")
    assert "yarın 09:00" in reply.text and "183" in reply.text and "112" in reply.text


# -- responses_check ------------------------------------------------------------------------------


def test_shipped_responses_are_valid() -> None:
    assert [str(p) for p in check_dir(RESPONSES_DIR)] == []


def _copy_responses(tmp_path: Path) -> Path:
    target = tmp_path / "responses"
    shutil.copytree(RESPONSES_DIR, target)
    return target


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_check_reports_missing_key_with_file_and_line(tmp_path: Path) -> None:
    rdir = _copy_responses(tmp_path)
    path = rdir / "tr.yml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(x for x in lines if not x.lstrip().startswith("are_you_safe:")),
                    encoding="utf-8")
    strings_line = _line_of(path, "strings:")
    problems = [str(p) for p in check_dir(rdir)]
    assert f"{path}:{strings_line}: missing key 'strings.are_you_safe'" in problems


def test_check_reports_long_button_and_bad_placeholder(tmp_path: Path) -> None:
    rdir = _copy_responses(tmp_path)
    path = rdir / "sq.yml"
    text = path.read_text(encoding="utf-8")
    text = text.replace('human: "Fol me një person"', 'human: "Dua të flas me një person tani"')
    text = text.replace("telefono {emergency}.", "telefono {emergncy}.")
    path.write_text(text, encoding="utf-8")
    problems = [str(p) for p in check_dir(rdir)]
    button_line = _line_of(path, "Dua të flas")
    assert any(p.startswith(f"{path}:{button_line}: button 'human' title is") for p in problems)
    emergency_line = _line_of(path, "{emergncy}")
    assert any(p.startswith(f"{path}:{emergency_line}: string 'emergency' uses placeholders")
               for p in problems)


def test_check_reports_missing_button(tmp_path: Path) -> None:
    rdir = _copy_responses(tmp_path)
    path = rdir / "ar.yml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(x for x in lines if not x.lstrip().startswith("ok:")),
                    encoding="utf-8")
    buttons_line = _line_of(path, "buttons:")
    assert f"{path}:{buttons_line}: missing key 'buttons.ok'" in [str(p) for p in check_dir(rdir)]


# -- helplines.yml --------------------------------------------------------------------------------

REQUIRED_COUNTRIES = ("AL", "AM", "AZ", "BY", "BA", "BG", "HR", "GE", "GR", "IT", "KZ", "XK",
                      "KG", "MD", "ME", "MK", "RO", "RS", "TJ", "TR", "TM", "UA", "UZ")


def _helplines() -> dict[str, object]:
    data = yaml.safe_load(HELPLINES_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_helplines_cover_every_country_with_sourced_entries() -> None:
    data = _helplines()
    countries = data["countries"]
    assert isinstance(countries, dict)
    assert set(REQUIRED_COUNTRIES) <= set(countries)
    default = data["default"]
    assert isinstance(default, dict)
    assert default["emergency"] == "112"
    assert any(line["number"] == "116 111" for line in default["lines"])
    for code, entry in [*countries.items(), ("default", default)]:
        assert entry.get("emergency"), code
        assert entry.get("emergency_status") in ("verified", "check"), code
        if not entry["lines"]:
            assert entry.get("note"), f"{code}: no lines and no note"
        for line in entry["lines"]:
            for key in ("name", "number", "hours", "for", "source", "verified_on", "status"):
                assert line.get(key), (code, line.get("name"), key)
            assert line["status"] in ("verified", "check"), (code, line["name"])
            assert line["for"] in ("children", "parents", "all"), (code, line["name"])
            if line.get("offer", True):
                compact = line["number"].replace(" ", "")
                assert compact not in line["name"].replace(" ", ""), (code, line["name"])


def test_language_defaults_point_at_known_countries() -> None:
    data = _helplines()
    countries = data["countries"]
    mapping = data["language_country"]
    assert isinstance(countries, dict) and isinstance(mapping, dict)
    for lang, country in mapping.items():
        assert country is None or country in countries, lang
    assert mapping["tr"] == "TR" and mapping["sq"] == "AL" and mapping["uk"] == "UA"
    assert mapping["ro"] == "RO" and mapping["sr"] == "RS"
