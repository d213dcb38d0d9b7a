"""Fold a message into one matching skeleton, keeping offsets back into the original.

Why: children write risk in many disguises (diacritics dropped, Cyrillic typed as Latin,
leetspeak, stretched letters, zero-width characters, homoglyphs, letters spaced out).
Lexicon patterns and messages pass through this same normaliser, so one pattern covers all
of those variants and lexicon authors never write them by hand.

The skeleton is for matching only (Unicode TR39 warns it is not a display form): every
script is folded to lower-case ASCII Latin, look-alike digraphs are merged (sh/š/ш -> s,
ch/č/ч -> c, zh/ž/ж -> z, kh/x/х -> h, g/г/h -> h, y/j/й/ј -> i) and every run of a repeated
letter becomes one letter ("dieeee", "kiiill" and "kill" all give "die"/"kil"). Each skeleton
token carries the start/end offsets of the original characters it came from.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Cyrillic (ru, uk, be, bg, mk, sr, kk, ky, tg, uz) -> Latin, before digraph merging.
_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "ґ": "g", "д": "d", "е": "e", "є": "ye",
    "ж": "zh", "з": "z", "и": "i", "і": "i", "й": "y", "к": "k", "л": "l", "м": "m",
    "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f",
    "х": "h", "ц": "c", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "a", "ы": "y", "ь": "",
    "э": "e", "ю": "yu", "я": "ya", "ђ": "dj", "ј": "j", "љ": "lj", "њ": "nj", "ћ": "c",
    "џ": "dz", "ѕ": "dz", "қ": "k", "ғ": "g", "ң": "n", "ө": "o", "ұ": "u", "ү": "u",
    "һ": "h", "ә": "a", "ҳ": "h", "ҷ": "j", "ӣ": "i", "ӯ": "u", "ў": "u", "ї": "yi",
}
# Greek -> Latin (transliteration where it coincides with the look-alike).
_GREEK = {
    "α": "a", "β": "v", "γ": "g", "δ": "d", "ε": "e", "ζ": "z", "η": "i", "θ": "th",
    "ι": "i", "κ": "k", "λ": "l", "μ": "m", "ν": "n", "ξ": "x", "ο": "o", "π": "p",
    "ρ": "r", "σ": "s", "ς": "s", "τ": "t", "υ": "i", "φ": "f", "χ": "h", "ψ": "ps",
    "ω": "o",
}
# Look-alikes used when a token mixes scripts ("сut" with Cyrillic с): the minority
# script's letters are read as what they look like in the majority script.
_CYR_LOOKS_LATIN = {
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ь": "b",
}
_GRK_LOOKS_LATIN = {
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "μ": "m", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "η": "n",
}
_LAT_LOOKS_CYR = {
    "a": "а", "b": "в", "c": "с", "e": "е", "h": "н", "k": "к", "m": "м", "o": "о",
    "p": "р", "t": "т", "x": "х", "y": "у", "i": "і",
}
_LATIN_EXTRA = {
    "đ": "dj", "ł": "l", "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ı": "i", "þ": "th",
    "ð": "d", "ŋ": "n", "ħ": "h",
}
_LEET_LATIN = {
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
    "@": "a", "$": "s", "!": "i", "|": "i", "+": "t", "€": "e", "¡": "i",
}
_LEET_CYR = {"0": "о", "3": "з", "4": "ч", "6": "б", "@": "а", "8": "в"}
_LEET_SYMBOLS = frozenset("@$!|+€¡")
_APOSTROPHES = frozenset("'’ʼ`´‘")
_ARABIC = {"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي"}

# Digraph merging on the Latin form; order matters (longest first).
_DIGRAPHS = re.compile(r"shch|sch|kh|zh|sh|ch|ck|x|g|y|j")
_DIGRAPH_MAP = {
    "shch": "s", "sch": "s", "kh": "h", "zh": "z", "sh": "s", "ch": "c", "ck": "k",
    "x": "h", "g": "h", "y": "i", "j": "i",
}
_RUNS = re.compile(r"(\D)\1+")
_TURKIC = frozenset({"tr", "az"})

# Character classes for tokenising one whitespace-free chunk.
_LETTER, _DIGIT, _SYMBOL, _APOS, _EMOJI, _DROP, _SEP = range(7)


@dataclass(frozen=True, slots=True)
class Token:
    """One skeleton token and the original character span [start, end) it came from."""

    text: str
    start: int
    end: int
    joined: bool = False  # rebuilt from spaced-out letters or a hashtag: segment it
    raw: str = ""  # Latin form before digraph merging (re-joining spaced letters needs it)


def merge_digraphs(latin: str) -> str:
    """Merge transliteration digraphs and collapse repeated letters (skeleton step)."""
    merged = _DIGRAPHS.sub(lambda m: _DIGRAPH_MAP[m.group(0)], latin)
    return _RUNS.sub(r"\1", merged)


def casefold(text: str, lang: str | None = None) -> str:
    """Language-aware casefold for display/comparison (Turkish and Azerbaijani dotted I)."""
    text = unicodedata.normalize("NFKC", text)
    if lang in _TURKIC:
        text = text.replace("I", "ı").replace("İ", "i")
    return text.casefold()


def _script(ch: str) -> str:
    code = ord(ch)
    if 0x400 <= code <= 0x52F:
        return "cyr"
    if 0x370 <= code <= 0x3FF:
        return "grk"
    if code < 0x250 or 0x1E00 <= code <= 0x1EFF:
        return "lat"
    return "other"


class Normaliser:
    """Stateful (cached) normaliser; one per RiskScreen, no module-level caches."""

    def __init__(self, cache_limit: int = 200_000) -> None:
        self._char_cache: dict[str, tuple[int, str]] = {}
        self._chunk_cache: dict[str, tuple[tuple[str, int, int, bool, str], ...]] = {}
        self._cache_limit = cache_limit

    # -- characters -------------------------------------------------------------------
    def _char(self, ch: str) -> tuple[int, str]:
        hit = self._char_cache.get(ch)
        if hit is None:
            hit = self._classify(ch)
            self._char_cache[ch] = hit
        return hit

    @staticmethod
    def _classify(ch: str) -> tuple[int, str]:
        if ch in _APOSTROPHES:
            return _APOS, ""
        if ch in _LEET_SYMBOLS:
            return _SYMBOL, ch
        cat = unicodedata.category(ch)
        if cat in ("Cf", "Mn", "Me", "Sk", "Cc") or 0xFE00 <= ord(ch) <= 0xFE0F:
            return _DROP, ""
        if cat == "So":
            return _EMOJI, ch
        folded = unicodedata.normalize("NFKC", ch)
        if len(folded) == 1 and folded.isdigit() and folded.isascii():
            return _DIGIT, folded
        if not folded or not any(c.isalpha() or c.isdigit() for c in folded):
            return _SEP, ""
        base = unicodedata.normalize("NFD", folded.casefold())
        base = "".join(c for c in base if unicodedata.category(c) != "Mn")
        base = "".join(_ARABIC.get(c, c) for c in base)
        if not base:
            return _DROP, ""
        if base.isdigit():
            return _DIGIT, base if base.isascii() else str(unicodedata.digit(base[0], 0))
        return _LETTER, base

    # -- chunks (whitespace-free runs of the original) --------------------------------
    def _chunk(self, chunk: str) -> tuple[tuple[str, int, int, bool, str], ...]:
        hit = self._chunk_cache.get(chunk)
        if hit is None:
            if len(self._chunk_cache) >= self._cache_limit:
                self._chunk_cache.clear()
            hit = self._fold_chunk(chunk)
            self._chunk_cache[chunk] = hit
        return hit

    def _fold_chunk(self, chunk: str) -> tuple[tuple[str, int, int, bool, str], ...]:
        items = [(self._char(ch), i) for i, ch in enumerate(chunk)]
        counts = {"lat": 0, "cyr": 0, "grk": 0}
        has_letter = False
        for (kind, base), _ in items:
            if kind == _LETTER:
                has_letter = True
                s = _script(base[0])
                if s in counts:
                    counts[s] += 1
        major = "cyr" if counts["cyr"] >= max(counts["lat"], 1) else "lat"
        if counts["grk"] > counts["lat"] and counts["grk"] > counts["cyr"]:
            major = "grk"
        # Pieces are (latin-or-other string, start, end); None separates tokens.
        out: list[tuple[str, int, int] | None] = []
        n = len(items)
        for idx, ((kind, base), pos) in enumerate(items):
            if kind == _LETTER:
                out.append((self._letter(base, major), pos, pos + 1))
            elif kind == _DIGIT:
                out.append(self._digit(items, idx, base, major, has_letter))
                nxt = items[idx + 1][0][0] if idx + 1 < n else _SEP
                if nxt == _LETTER and out[-1] is not None and out[-1][0].isdigit():
                    out.append(None)  # "800mg" -> "800 mg"
            elif kind == _SYMBOL:
                prev_l = idx > 0 and items[idx - 1][0][0] in (_LETTER, _DIGIT)
                next_l = idx + 1 < n and items[idx + 1][0][0] == _LETTER
                if has_letter and ((prev_l and next_l) or (base in "@$" and (prev_l or next_l))):
                    out.append((self._leet(base, major), pos, pos + 1))
                else:
                    out.append(None)
            elif kind == _APOS:
                prev_l = idx > 0 and items[idx - 1][0][0] == _LETTER
                next_l = idx + 1 < n and items[idx + 1][0][0] == _LETTER
                if not (prev_l and next_l):
                    out.append(None)
            elif kind == _EMOJI:
                out.append(None)
                out.append((base, pos, pos + 1))
                out.append(None)
            elif kind == _SEP:
                out.append(None)
        return self._assemble(out)

    def _digit(
        self,
        items: list[tuple[tuple[int, str], int]],
        idx: int,
        digit: str,
        major: str,
        has_letter: bool,
    ) -> tuple[str, int, int] | None:
        pos = items[idx][1]
        if not has_letter:
            return (digit, pos, pos + 1)
        # Leading number followed by letters ("800mg", "12yo") stays a number.
        before = [k for (k, _), _ in items[:idx] if k in (_LETTER, _SYMBOL)]
        if not before:
            # A lone leading "0" before letters is leet ("0ldurmek"), never a quantity.
            nxt = items[idx + 1][0][0] if idx + 1 < len(items) else _SEP
            if digit == "0" and idx == 0 and nxt == _LETTER:
                return (self._leet(digit, major), pos, pos + 1)
            return (digit, pos, pos + 1)
        if major == "cyr" and digit == "3" and len(before) > 0:
            return ("e", pos, pos + 1)  # mid-word "3" in Cyrillic is "е"; initial is "з"
        return (self._leet(digit, major), pos, pos + 1)

    @staticmethod
    def _leet(ch: str, major: str) -> str:
        if major == "cyr" and ch in _LEET_CYR:
            return _CYRILLIC.get(_LEET_CYR[ch], ch)
        return _LEET_LATIN.get(ch, ch)

    @staticmethod
    def _letter(base: str, major: str) -> str:
        out = []
        for c in base:
            s = _script(c)
            if s == "cyr":
                if major == "lat" and c in _CYR_LOOKS_LATIN:
                    out.append(_CYR_LOOKS_LATIN[c])
                else:
                    out.append(_CYRILLIC.get(c, c))
            elif s == "grk":
                if major == "lat" and c in _GRK_LOOKS_LATIN:
                    out.append(_GRK_LOOKS_LATIN[c])
                else:
                    out.append(_GREEK.get(c, c))
            elif s == "lat":
                if major == "cyr" and c in _LAT_LOOKS_CYR:
                    out.append(_CYRILLIC[_LAT_LOOKS_CYR[c]])
                else:
                    out.append(_LATIN_EXTRA.get(c, c))
            else:
                out.append(c)
        return "".join(out)

    @staticmethod
    def _assemble(
        pieces: list[tuple[str, int, int] | None],
    ) -> tuple[tuple[str, int, int, bool, str], ...]:
        tokens: list[tuple[str, int, int, str]] = []
        buf: list[str] = []
        start = end = -1
        for piece in [*pieces, None]:
            if piece is None:
                if buf:
                    raw = "".join(buf)
                    text = merge_digraphs(raw)
                    if text:
                        tokens.append((text, start, end, raw))
                buf = []
                continue
            if not buf:
                start = piece[1]
            buf.append(piece[0])
            end = piece[2]
        # "k.i.l.l" inside one chunk: all single letters -> one joined token.
        if len(tokens) >= 3 and all(len(t[0]) == 1 and t[0].isalpha() for t in tokens):
            raw = "".join(t[3] for t in tokens)
            return ((merge_digraphs(raw), tokens[0][1], tokens[-1][2], True, raw),)
        return tuple((t, s, e, False, r) for t, s, e, r in tokens)

    # -- messages ---------------------------------------------------------------------
    def tokens(self, text: str) -> list[Token]:
        """Skeleton tokens of ``text`` with original offsets; spaced letters are joined."""
        result: list[Token] = []
        singles: list[Token] = []
        for m in re.finditer(r"\S+", text):
            chunk = m.group(0)
            base = m.start()
            folded = self._chunk(chunk)
            hashtag = chunk.startswith("#") and len(folded) == 1 and len(folded[0][0]) >= 6
            for tok, s, e, joined, raw in folded:
                t = Token(tok, base + s, base + e, hashtag or joined, raw)
                if len(folded) == 1 and len(tok) == 1 and tok.isalpha():
                    singles.append(t)
                    continue
                self._flush(singles, result)
                result.append(t)
        self._flush(singles, result)
        return result

    @staticmethod
    def _flush(singles: list[Token], result: list[Token]) -> None:
        if len(singles) >= 3:
            # Join the pre-merge letters: "з г" is "zg" -> "zh", not "z"+"h" -> "zh" -> "z".
            joined = merge_digraphs("".join(t.raw or t.text for t in singles))
            result.append(Token(joined, singles[0].start, singles[-1].end, True))
        else:
            result.extend(singles)
        singles.clear()

    def skeleton(self, text: str) -> str:
        """Space-joined skeleton of ``text`` (used for patterns and tests)."""
        return " ".join(t.text for t in self.tokens(text))
