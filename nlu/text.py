"""Text normalisation shared by training, inference and entity extraction.

Users type without diacritics, in any case, and often write Russian, Ukrainian or Serbian
in Latin letters. Folding Latin diacritics and case makes "Fiul meu" match "fiul meu", and
a Latin transliteration of Cyrillic lets "ne spit" share features with "не спит". Cyrillic
itself is kept (only ё→е), because the Cyrillic spelling is what most users type.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

_CYR_TO_LAT = {
    "а": "a", "б": "b", "в": "v", "г": "g", "ґ": "g", "д": "d", "ђ": "dj", "е": "e",
    "є": "ye", "ж": "zh", "з": "z", "и": "i", "і": "i", "ї": "yi", "й": "y", "ј": "j",
    "к": "k", "л": "l", "љ": "lj", "м": "m", "н": "n", "њ": "nj", "о": "o", "п": "p",
    "р": "r", "с": "s", "т": "t", "ћ": "c", "у": "u", "ф": "f", "х": "h", "ц": "c",
    "ч": "ch", "џ": "dz", "ш": "sh", "щ": "sch", "ъ": "", "ы": "y", "ь": "", "э": "e",
    "ю": "yu", "я": "ya", "ў": "u",
}  # fmt: skip


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    low = ch.casefold()
    if low == "ё":
        return "е"
    if all(ord(c) < 0x370 for c in low):  # Latin and friends: drop accents
        decomposed = unicodedata.normalize("NFKD", low)
        return "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", low)


def normalise(text: str) -> str:
    """Casefold, fold Latin diacritics, keep Cyrillic; ``len`` may change (``ß``→``ss``)."""
    return "".join(_fold_char(ch) for ch in text)


def normalise_with_offsets(text: str) -> tuple[str, list[int]]:
    """Normalised text plus, for every output character, its index in ``text``."""
    out: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(text):
        folded = _fold_char(ch)
        out.append(folded)
        offsets.extend([i] * len(folded))
    offsets.append(len(text))
    return "".join(out), offsets


def has_cyrillic(text: str) -> bool:
    return any("\u0400" <= ch <= "\u04ff" for ch in text)


def transliterate(text: str) -> str:
    """Chat-style Latin for normalised Cyrillic text (``привет`` → ``privet``)."""
    return "".join(_CYR_TO_LAT.get(ch, ch) for ch in text)
