"""Read lexicon YAML files into compiled token patterns, with file:line problems.

Why: the screen and the ``caseline lexicons check`` command must read the files the same
way, so one loader reports every problem with its line (from yaml node marks) and both the
screen (which skips broken entries rather than going blind) and the checker use it.

Pattern syntax: whitespace-separated tokens, each normalised like a message; ``word*``
matches any ending; ``..`` skips up to three words. Optional file keys besides the fixed
format: ``benign`` (phrases masked before matching), ``negation`` (cue words) and
``negation_aux`` (words allowed between a cue and a match, e.g. "going", "to").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from safeguarding.normalise import Normaliser
from safeguarding.verdict import CATEGORIES, Severity

SIGNALS: frozenset[str] = frozenset(
    {
        "secrecy",
        "private_app",
        "photo_request",
        "meeting_request",
        "gifts",
        "age_gap",
        "threat",
        # Extensions used by the severity combination rules.
        "timeframe",
        "means",
        "deadline",
        "hiding",  # a child hiding from an attacker now (wardrobe, locked bathroom)
        "money",  # a money demand (sextortion, debt bondage)
        "farewell",  # a goodbye that is ambiguous alone but not with means in hand
    }
)
SEVERITIES: frozenset[str] = frozenset(s.label for s in Severity)
EXACT, PREFIX, GAP = 0, 1, 2
GAP_WORDS = 3
DEFAULT_DIR = Path(__file__).resolve().parent / "lexicons"

Spec = tuple[int, str]


@dataclass(frozen=True, slots=True)
class Problem:
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    lang: str
    category: str
    severity: Severity
    signal: str | None
    path: Path
    line: int


@dataclass(frozen=True, slots=True)
class Pattern:
    entry: Entry
    specs: tuple[Spec, ...]
    source: str
    line: int


@dataclass(slots=True)
class Lexicon:
    language: str
    name: str
    path: Path
    entries: list[Entry] = field(default_factory=list)
    patterns: list[Pattern] = field(default_factory=list)
    benign: list[tuple[tuple[Spec, ...], int, str]] = field(default_factory=list)
    negation: set[str] = field(default_factory=set)
    negation_aux: set[str] = field(default_factory=set)


def compile_pattern(text: str, normaliser: Normaliser) -> tuple[Spec, ...] | str:
    """Compile one pattern; returns the specs or an error message."""
    if not isinstance(text, str) or not text.strip():
        return "empty pattern"
    specs: list[Spec] = []
    for raw in text.split():
        if raw == "..":
            if not specs or specs[-1][0] == GAP:
                return f"pattern {text!r}: '..' must sit between words"
            specs.append((GAP, ""))
            continue
        prefix = raw.endswith("*")
        stem = raw.rstrip("*")
        if "*" in stem:
            return f"pattern {text!r}: cannot parse token {raw!r}"
        toks = [t.text for t in normaliser.tokens(stem)]
        if not toks:
            return f"pattern {text!r}: token {raw!r} normalises to nothing"
        for i, tok in enumerate(toks):
            last = i == len(toks) - 1
            if prefix and last:
                if len(tok) < 2:
                    return f"pattern {text!r}: stem {raw!r} is too short for '*'"
                specs.append((PREFIX, tok))
            else:
                specs.append((EXACT, tok))
    if not specs:
        return f"pattern {text!r} normalises to nothing"
    if specs[-1][0] == GAP:
        return f"pattern {text!r}: '..' must sit between words"
    return tuple(specs)


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _mapping(node: yaml.Node) -> dict[str, yaml.Node] | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    out: dict[str, yaml.Node] = {}
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode):
            out[str(key.value)] = value
    return out


def _scalar(node: yaml.Node | None) -> str | None:
    if isinstance(node, yaml.ScalarNode) and node.value != "":
        return str(node.value)
    return None


def _strings(node: yaml.Node | None) -> list[tuple[str, int]] | None:
    if not isinstance(node, yaml.SequenceNode):
        return None
    out: list[tuple[str, int]] = []
    for item in node.value:
        value = _scalar(item)
        out.append((value if value is not None else "", _line(item)))
    return out


class _FileReader:
    def __init__(self, path: Path, normaliser: Normaliser, problems: list[Problem]) -> None:
        self.path = path
        self.norm = normaliser
        self.problems = problems

    def err(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.path, line, message))

    def read(self) -> Lexicon | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.err(1, f"cannot read file: {exc}")
            return None
        try:
            root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else 1
            self.err(line, f"YAML syntax error: {exc.problem or exc}")
            return None
        except yaml.YAMLError as exc:
            self.err(1, f"YAML error: {exc}")
            return None
        top = _mapping(root) if root is not None else None
        if top is None:
            self.err(1, "file must be a mapping with language, name and entries")
            return None
        language = _scalar(top.get("language"))
        if language is None:
            self.err(1, "missing key 'language'")
            language = self.path.stem
        elif language != self.path.stem:
            self.err(_line(top["language"]), f"language {language!r} does not match file name")
        name = _scalar(top.get("name"))
        if name is None:
            self.err(1, "missing key 'name'")
        lex = Lexicon(language, name or language, self.path)
        entries = top.get("entries")
        if not isinstance(entries, yaml.SequenceNode):
            line = _line(entries) if entries is not None else 1
            self.err(line, "missing or invalid key 'entries' (a list)")
        else:
            for node in entries.value:
                self._entry(node, lex)
        self._extras(top, lex)
        return lex

    def _extras(self, top: dict[str, yaml.Node], lex: Lexicon) -> None:
        for key in ("benign", "negation", "negation_aux"):
            if key not in top:
                continue
            items = _strings(top[key])
            if items is None:
                self.err(_line(top[key]), f"'{key}' must be a list of strings")
                continue
            for value, line in items:
                specs = compile_pattern(value, self.norm)
                if isinstance(specs, str):
                    self.err(line, f"{key}: {specs}")
                elif key == "benign":
                    lex.benign.append((specs, line, value))
                else:
                    target = lex.negation if key == "negation" else lex.negation_aux
                    target.update(t for kind, t in specs if kind == EXACT)

    def _entry(self, node: yaml.Node, lex: Lexicon) -> None:
        line = _line(node)
        fields = _mapping(node)
        if fields is None:
            self.err(line, "entry must be a mapping")
            return
        ok = True
        for key in ("id", "category", "severity", "patterns"):
            if key not in fields:
                self.err(line, f"entry missing key '{key}'")
                ok = False
        entry_id = _scalar(fields.get("id")) or ""
        category = _scalar(fields.get("category")) or ""
        severity = _scalar(fields.get("severity")) or ""
        signal = _scalar(fields.get("signal")) if "signal" in fields else None
        if "id" in fields and not entry_id:
            self.err(_line(fields["id"]), "empty id")
            ok = False
        if entry_id and not entry_id.startswith(f"{lex.language}."):
            self.err(_line(fields["id"]), f"id {entry_id!r} must start with '{lex.language}.'")
        if "category" in fields and category not in CATEGORIES:
            self.err(_line(fields["category"]), f"unknown category {category!r}")
            ok = False
        if "severity" in fields and severity not in SEVERITIES:
            self.err(_line(fields["severity"]), f"unknown severity {severity!r}")
            ok = False
        if "signal" in fields and signal not in SIGNALS:
            self.err(_line(fields["signal"]), f"unknown signal {signal!r}")
            ok = False
        patterns = _strings(fields.get("patterns")) if "patterns" in fields else None
        if "patterns" in fields and not patterns:
            self.err(_line(fields["patterns"]), "patterns must be a non-empty list of strings")
            ok = False
        if not ok or patterns is None:
            return
        entry = Entry(
            entry_id, lex.language, category, Severity.parse(severity), signal, self.path, line
        )
        lex.entries.append(entry)
        for value, pline in patterns:
            specs = compile_pattern(value, self.norm)
            if isinstance(specs, str):
                self.err(pline, specs)
            else:
                lex.patterns.append(Pattern(entry, specs, value, pline))


def load_files(
    paths: Iterable[Path], normaliser: Normaliser
) -> tuple[list[Lexicon], list[Problem]]:
    """Load lexicon files; duplicate ids across files are problems too."""
    problems: list[Problem] = []
    lexicons: list[Lexicon] = []
    seen: dict[str, Entry] = {}
    for path in sorted(paths):
        lex = _FileReader(path, normaliser, problems).read()
        if lex is None:
            continue
        unique: list[Entry] = []
        for entry in lex.entries:
            first = seen.get(entry.id)
            if first is not None:
                problems.append(
                    Problem(
                        path,
                        entry.line,
                        f"duplicate id {entry.id!r} (first at {first.path}:{first.line})",
                    )
                )
                continue
            seen[entry.id] = entry
            unique.append(entry)
        keep = {id(e) for e in unique}
        lex.entries = unique
        lex.patterns = [p for p in lex.patterns if id(p.entry) in keep]
        lexicons.append(lex)
    return lexicons, problems


def load_dir(
    directory: Path | None, normaliser: Normaliser
) -> tuple[list[Lexicon], list[Problem]]:
    directory = directory or DEFAULT_DIR
    return load_files(directory.glob("*.yml"), normaliser)

