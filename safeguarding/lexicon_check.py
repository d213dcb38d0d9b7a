"""Validate lexicon files and report every problem as ``file:line: message``.

Why: several people edit lexicons in parallel in many languages; a typo must fail CI with a
pointer to the line instead of silently disabling an entry in production (the screen skips
broken entries so it never goes blind). Also flags benign phrases that themselves match a
risk pattern, since masking those would hide real risk.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from safeguarding.lexicon import DEFAULT_DIR, Problem, load_files
from safeguarding.matcher import PatternIndex
from safeguarding.normalise import Normaliser


def check_files(paths: Iterable[Path]) -> list[Problem]:
    """All problems in ``paths`` (syntax, keys, values, duplicates, risky benign phrases)."""
    norm = Normaliser()
    lexicons, problems = load_files(paths, norm)
    index: PatternIndex[str] = PatternIndex(
        [(p.specs, p.entry.id) for lex in lexicons for p in lex.patterns if not p.entry.signal
         and p.entry.severity >= 2]
    )
    for lex in lexicons:
        for specs, line, text in lex.benign:
            words = [t for _, t in specs]
            hits = sorted({rule for s, e, rule in index.find(words) if e - s == len(words)})
            if hits:
                problems.append(
                    Problem(lex.path, line, f"benign phrase {text!r} carries risk ({hits[0]})")
                )
    return sorted(problems, key=lambda p: (str(p.path), p.line))


def check_dir(directory: Path | None = None) -> list[Problem]:
    return check_files((directory or DEFAULT_DIR).glob("*.yml"))
