"""Safe replies to a risk signal, built from reviewed data rather than generated text.

Why this module exists: when the screen flags a message, the child must get, in the same turn
and in their own language, a warm acknowledgement, "it is not your fault" where abuse is
involved, an honest account of what happens next (a person reads it; no promise of secrecy),
the helpline of *their* country with its hours, the emergency number when life is at risk, a
way to correct the bot or ask for a person, and a safe word that brings the numbers back
(reference §5.1 UNICEF "Safer Chatbots", §5.3 NSPCC, §5.7).

Why it is data-driven: every sentence a child sees lives in ``responses/<lang>.yml`` so that
native-speaking child-protection reviewers can read and change it without touching code, and
every number lives in ``helplines.yml`` with its source, date and verification status
(reference §4). ``responses_check.py`` validates the response files; this module only reads
them once in :meth:`SafetyResponder.load` and is pure afterwards, so replies are deterministic
and cheap (reference §6.2 T7, T11).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from caseline.messages import Button, Reply
from safeguarding.verdict import Severity, Verdict

RESPONSES_DIR = Path(__file__).with_name("responses")
HELPLINES_PATH = Path(__file__).with_name("helplines.yml")

FALLBACK_LANG = "en"
UNIVERSAL_SAFE_WORD = "SOS"

PAYLOAD_CONFIRM = "safety:confirm"
PAYLOAD_OK = "safety:ok"
PAYLOAD_HUMAN = "safety:human"

MAX_BUTTON_TITLE = 20
"""WhatsApp's limit for reply-button titles; the strictest of our channels."""

MAX_LINES_IN_REPLY = 2
"""Helplines shown in the first safety reply; ``help_details`` shows every offered line."""

# Every responses file must define exactly these strings, each with exactly these placeholders.
STRING_PLACEHOLDERS: Mapping[str, frozenset[str]] = {
    "acknowledge": frozenset(),
    "not_your_fault": frozenset(),
    "what_next": frozenset(),
    "helpline_intro": frozenset(),
    "helpline": frozenset({"name", "number", "hours"}),
    "helpline_no_hours": frozenset({"name", "number"}),
    "hours_24_7": frozenset(),
    "home_line_intro": frozenset(),
    "no_helpline": frozenset(),
    "emergency": frozenset({"emergency"}),
    "are_you_safe": frozenset(),
    "offer_person": frozenset(),
    "confirm": frozenset(),
    "safe_word": frozenset({"safe_word"}),
    "followup_yes": frozenset(),
    "followup_ok": frozenset(),
    "followup_other": frozenset(),
    "followup_human": frozenset(),
    "help_intro": frozenset(),
    "no_worker_on_duty": frozenset({"when"}),
}
BUTTON_KEYS: tuple[str, ...] = ("confirm", "ok", "human")
WORD_LIST_KEYS: tuple[str, ...] = ("safe_words", "yes_words", "ok_words", "human_words")

NOT_YOUR_FAULT_CATEGORIES = frozenset({
    "sexual_abuse", "physical_abuse", "neglect", "grooming", "sextortion", "bullying",
    "domestic_violence", "trafficking", "exploitation",
})
"""Categories where a child is likely to blame themselves (NSPCC: "it is not your fault")."""

CHILD_AUDIENCES = frozenset({"children", "all"})

# Languages without their own file that read another one comfortably.
LANG_ALIASES: Mapping[str, str] = {"hr": "sr", "bs": "sr", "cnr": "sr", "sh": "sr", "mo": "ro"}

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_CHAR_FOLD = str.maketrans({"ı": "i", "ى": "ي", "ـ": "", "'": "", "’": "", "ʼ": ""})


def normalise(text: str) -> str:
    """Fold text for matching short answers: case, diacritics, punctuation and spacing.

    Turkish dotless i, Arabic alef maqsura/tatweel and apostrophes are folded too, so
    "YARDIM", "yardım" and "Yardim!" compare equal, as do "I'm OK" and "im ok".
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    stripped = unicodedata.normalize("NFC", stripped).translate(_CHAR_FOLD)
    return " ".join(_NON_WORD.sub(" ", stripped).split())


def placeholders(template: str) -> frozenset[str]:
    """The ``{name}`` fields used by a template."""
    return frozenset(
        name for _, name, _, _ in string.Formatter().parse(template) if name is not None
    )


@dataclass(frozen=True, slots=True)
class Helpline:
    name: str
    number: str
    hours: str
    audience: str
    status: str
    offer: bool = True
    hours_by_lang: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CountryLines:
    code: str
    emergency: str
    lines: tuple[Helpline, ...] = ()


@dataclass(frozen=True, slots=True)
class LanguagePack:
    code: str
    strings: Mapping[str, str]
    buttons: Mapping[str, str]
    safe_words: tuple[str, ...]
    yes_words: frozenset[str] = field(default_factory=frozenset)
    ok_words: frozenset[str] = field(default_factory=frozenset)
    human_words: frozenset[str] = field(default_factory=frozenset)

    def text(self, key: str, **values: str) -> str:
        return self.strings[key].format(**values) if values else self.strings[key]


def _as_str_list(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [str(v) for v in value if isinstance(v, (str, int))]


def _load_pack(path: Path, fallback: LanguagePack | None) -> LanguagePack:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping")
    raw_strings = data.get("strings") or {}
    raw_buttons = data.get("buttons") or {}
    strings = {str(k): str(v) for k, v in dict(raw_strings).items()}
    buttons = {str(k): str(v) for k, v in dict(raw_buttons).items()}
    if fallback is not None:
        # A gap in a translation must never leave a child without a sentence.
        strings = {**fallback.strings, **strings}
        buttons = {**fallback.buttons, **buttons}
    missing = [k for k in STRING_PLACEHOLDERS if k not in strings]
    missing += [f"buttons.{k}" for k in BUTTON_KEYS if k not in buttons]
    if missing:
        raise ValueError(f"{path}: missing {', '.join(missing)}")
    code = str(data.get("language") or path.stem)

    def words(key: str) -> frozenset[str]:
        return frozenset(w for w in (normalise(x) for x in _as_str_list(data.get(key))) if w)

    return LanguagePack(
        code=code,
        strings=strings,
        buttons=buttons,
        safe_words=tuple(_as_str_list(data.get("safe_words"))) or (UNIVERSAL_SAFE_WORD,),
        yes_words=words("yes_words") | {normalise(buttons["confirm"])},
        ok_words=words("ok_words"),
        human_words=words("human_words") | {normalise(buttons["human"])},
    )


def _load_line(raw: Mapping[str, Any]) -> Helpline:
    hours = raw.get("hours", "unknown")
    by_lang = {str(k): str(v) for k, v in hours.items()} if isinstance(hours, dict) else {}
    return Helpline(
        name=str(raw["name"]),
        number=str(raw["number"]),
        hours=by_lang.get(FALLBACK_LANG, "unknown") if by_lang else str(hours),
        hours_by_lang=by_lang,
        audience=str(raw.get("for", "all")),
        status=str(raw.get("status", "check")),
        offer=bool(raw.get("offer", True)),
    )


def _load_country(code: str, raw: Mapping[str, Any]) -> CountryLines:
    return CountryLines(
        code=code,
        emergency=str(raw.get("emergency", "112")),
        lines=tuple(_load_line(line) for line in raw.get("lines") or ()),
    )


def _base_lang(lang: str | None) -> str:
    return (lang or "").strip().lower().replace("_", "-").split("-")[0]


class SafetyResponder:
    """Builds the safety replies for a verdict; holds only data loaded at start-up."""

    def __init__(
        self,
        packs: Mapping[str, LanguagePack],
        countries: Mapping[str, CountryLines],
        default: CountryLines,
        language_country: Mapping[str, str | None],
        home_lines: Mapping[str, str],
    ) -> None:
        if FALLBACK_LANG not in packs:
            raise ValueError(f"responses for the fallback language {FALLBACK_LANG!r} are missing")
        self._packs = dict(packs)
        self._countries = dict(countries)
        self._default = default
        self._language_country = dict(language_country)
        self._home_lines = dict(home_lines)
        words = {normalise(UNIVERSAL_SAFE_WORD)}
        for pack in packs.values():
            words.update(normalise(w) for w in pack.safe_words)
        self._safe_words = frozenset(w for w in words if w)

    @classmethod
    def load(
        cls, responses_dir: Path | None = None, helplines_path: Path | None = None
    ) -> SafetyResponder:
        rdir = responses_dir or RESPONSES_DIR
        english = _load_pack(rdir / f"{FALLBACK_LANG}.yml", None)
        packs: dict[str, LanguagePack] = {FALLBACK_LANG: english}
        for path in sorted(rdir.glob("*.yml")):
            if path.stem != FALLBACK_LANG:
                pack = _load_pack(path, english)
                packs[pack.code] = pack
        data = yaml.safe_load((helplines_path or HELPLINES_PATH).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("helplines file: expected a mapping")
        countries = {
            str(code).upper(): _load_country(str(code).upper(), raw)
            for code, raw in dict(data.get("countries") or {}).items()
        }
        default = _load_country("default", dict(data.get("default") or {}))
        language_country = {
            str(k): (str(v).upper() if v else None)
            for k, v in dict(data.get("language_country") or {}).items()
        }
        home_lines = {str(k): str(v).upper() for k, v in dict(data.get("home_lines") or {}).items()}
        return cls(packs, countries, default, language_country, home_lines)

    # -- public API ----------------------------------------------------------------------------

    def reply(self, verdict: Verdict, lang: str, country: str | None) -> list[Reply]:
        """The same-turn safety reply: two short messages, the second with the confirm buttons."""
        pack = self._pack(lang)
        where = self._country(lang, country)
        critical = verdict.severity >= Severity.CRITICAL
        first = [pack.text("acknowledge")]
        if critical:
            first += [pack.text("emergency", emergency=where.emergency), pack.text("are_you_safe")]
        if NOT_YOUR_FAULT_CATEGORIES.intersection(verdict.categories):
            first.append(pack.text("not_your_fault"))
        first.append(pack.text("what_next"))

        second = self._lines_block(pack, lang, where, intro="helpline_intro",
                                   limit=MAX_LINES_IN_REPLY, with_emergency=False)
        second += [self._safe_word_line(pack), "", pack.text("confirm")]
        meta = self._meta(pack, where, verdict.severity.label)
        return [
            Reply(" ".join(first), meta=meta),
            Reply("\n".join(second), buttons=self._buttons(pack), meta=meta),
        ]

    def followup(self, text_or_payload: str, lang: str, country: str | None) -> list[Reply]:
        """A turn in safety mode. Never closes the conversation; unclear answers stay in it."""
        pack = self._pack(lang)
        where = self._country(lang, country)
        meta = self._meta(pack, where, "followup")
        raw = (text_or_payload or "").strip()
        answer = normalise(raw)
        human = (Button(PAYLOAD_HUMAN, pack.buttons["human"]),)
        if raw == PAYLOAD_CONFIRM or answer in pack.yes_words:
            text = f"{pack.text('followup_yes')} {pack.text('are_you_safe')}"
            return [Reply(text, buttons=human, meta=meta)]
        if raw == PAYLOAD_OK or answer in pack.ok_words:
            text = f"{pack.text('followup_ok')} {self._safe_word_line(pack)}"
            return [Reply(text, meta=meta)]
        if raw == PAYLOAD_HUMAN or answer in pack.human_words:
            block = self._lines_block(pack, lang, where, intro=None, limit=None,
                                      with_emergency=True)
            return [Reply("\n".join([pack.text("followup_human"), *block]), meta=meta)]
        if self.is_safe_word(raw):
            return self.help_details(lang, country)
        block = self._lines_block(pack, lang, where, intro="helpline_intro",
                                  limit=MAX_LINES_IN_REPLY, with_emergency=True)
        text = "\n".join([pack.text("followup_other"), *block, self._safe_word_line(pack)])
        return [Reply(text, buttons=human, meta=meta)]

    def wants_person(self, text_or_payload: str, lang: str) -> bool:
        """True for the "talk to a person" button or its typed equivalent in ``lang``."""
        raw = (text_or_payload or "").strip()
        return raw == PAYLOAD_HUMAN or normalise(raw) in self._pack(lang).human_words

    def help_details(self, lang: str, country: str | None) -> list[Reply]:
        """What the safe word shows: every offered number, the emergency number, the safe word."""
        pack = self._pack(lang)
        where = self._country(lang, country)
        block = self._lines_block(pack, lang, where, intro="help_intro", limit=None,
                                  with_emergency=True, audiences=None)
        block.append(self._safe_word_line(pack))
        return [Reply("\n".join(block), meta=self._meta(pack, where, "help"))]

    def is_safe_word(self, text: str) -> bool:
        """True when the whole message is a safe word of any language (or SOS)."""
        return normalise(text or "") in self._safe_words

    def no_worker_message(self, lang: str, country: str | None, when: str) -> Reply:
        """Out of hours: say honestly when the team replies and give the numbers now (T10)."""
        pack = self._pack(lang)
        where = self._country(lang, country)
        block = self._lines_block(pack, lang, where, intro=None, limit=None,
                                  with_emergency=True)
        text = "\n".join([pack.text("no_worker_on_duty", when=when), *block])
        return Reply(text, meta=self._meta(pack, where, "no_worker"))

    # -- lookups -------------------------------------------------------------------------------

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self._packs))

    def pack(self, lang: str) -> LanguagePack:
        """The language pack a contact in ``lang`` is answered in (English if unknown)."""
        return self._pack(lang)

    def country_for(self, lang: str, country: str | None) -> CountryLines:
        """The contact's country, else the language's default country, else the fallback."""
        return self._country(lang, country)

    def _pack(self, lang: str) -> LanguagePack:
        base = _base_lang(lang)
        base = base if base in self._packs else LANG_ALIASES.get(base, base)
        return self._packs.get(base) or self._packs[FALLBACK_LANG]

    def _country(self, lang: str, country: str | None) -> CountryLines:
        code = (country or "").strip().upper()
        if code in self._countries:
            return self._countries[code]
        if code:
            # A known country we hold no data for: the general European lines, never the
            # language's country (a Ukrainian speaker in Poland is not in Ukraine).
            return self._default
        fallback = self._language_country.get(_base_lang(lang))
        if fallback and fallback in self._countries:
            return self._countries[fallback]
        return self._default

    # -- building blocks -----------------------------------------------------------------------

    def _format_line(self, pack: LanguagePack, line: Helpline) -> str:
        hours = line.hours_by_lang.get(pack.code, line.hours).strip()
        if not hours or hours.lower() == "unknown":
            return pack.text("helpline_no_hours", name=line.name, number=line.number)
        if hours == "24/7":
            hours = pack.text("hours_24_7")
        return pack.text("helpline", name=line.name, number=line.number, hours=hours)

    @staticmethod
    def _offered(
        where: CountryLines, audiences: Iterable[str] | None
    ) -> list[Helpline]:
        allowed = frozenset(audiences) if audiences is not None else None
        return [
            line for line in where.lines
            if line.offer and (allowed is None or line.audience in allowed)
        ]

    def _lines_block(
        self,
        pack: LanguagePack,
        lang: str,
        where: CountryLines,
        *,
        intro: str | None,
        limit: int | None,
        with_emergency: bool,
        audiences: Iterable[str] | None = CHILD_AUDIENCES,
    ) -> list[str]:
        offered = self._offered(where, audiences)[:limit]
        out: list[str] = []
        if offered:
            if intro:
                out.append(pack.text(intro))
            out += [self._format_line(pack, line) for line in offered]
        else:
            # No checked line: say so plainly and always give the emergency number.
            out.append(pack.text("no_helpline"))
            with_emergency = True
        home_code = self._home_lines.get(_base_lang(lang))
        if home_code and home_code != where.code and home_code in self._countries:
            home = self._offered(self._countries[home_code], audiences)[:limit]
            if home:
                out.append(pack.text("home_line_intro"))
                out += [self._format_line(pack, line) for line in home]
        if with_emergency:
            out.append(pack.text("emergency", emergency=where.emergency))
        return out

    def _safe_word_line(self, pack: LanguagePack) -> str:
        return pack.text("safe_word", safe_word=pack.safe_words[0])

    @staticmethod
    def _buttons(pack: LanguagePack) -> tuple[Button, ...]:
        return (
            Button(PAYLOAD_CONFIRM, pack.buttons["confirm"]),
            Button(PAYLOAD_OK, pack.buttons["ok"]),
            Button(PAYLOAD_HUMAN, pack.buttons["human"]),
        )

    @staticmethod
    def _meta(pack: LanguagePack, where: CountryLines, kind: str) -> dict[str, str]:
        return {"safety": kind, "lang": pack.code, "country": where.code}
