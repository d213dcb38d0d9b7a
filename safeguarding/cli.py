"""``caseline screen`` and ``caseline lexicons check``; also ``python -m safeguarding.cli``.

Why: case workers and CI need to screen message dumps and run the labelled evaluation
without the bot running. Input is JSON lines; one bad line must not stop a batch, and output
order matches input so results can be zipped back. Reads stdin in bulk and writes through
one buffered writer because the screen is benchmarked through this path.
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import click

from safeguarding.evaluate import evaluate, format_report, load_cases
from safeguarding.lexicon_check import check_dir, check_files
from safeguarding.model import format_cv
from safeguarding.screen import RiskScreen


def screen_line(screen: RiskScreen, line: str) -> dict[str, Any]:
    """Screen one JSON line; errors become an ``error`` field, never an exception."""
    try:
        obj = json.loads(line)
    except ValueError as exc:
        return {"id": None, "error": f"invalid JSON: {exc}"}
    if not isinstance(obj, dict):
        return {"id": None, "error": "each line must be a JSON object"}
    ident = obj.get("id")
    text = obj.get("text")
    lang = obj.get("lang")
    history = obj.get("history", [])
    if not isinstance(text, str):
        return {"id": ident, "error": "'text' must be a string"}
    if lang is not None and not isinstance(lang, str):
        return {"id": ident, "error": "'lang' must be a string"}
    if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
        return {"id": ident, "error": "'history' must be a list of strings"}
    verdict = screen.screen(text, lang, history)
    return {"id": ident, **verdict.to_json()}


def screen_lines(screen: RiskScreen, lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if line.strip():
            yield screen_line(screen, line)


def run_screen(screen: RiskScreen, data: str, out: IO[str]) -> int:
    """Screen every line of ``data`` into ``out``; returns the number of lines written."""
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    chunk: list[str] = []
    count = 0
    for result in screen_lines(screen, data.splitlines()):
        chunk.append(dumps(result))
        count += 1
        if len(chunk) >= 4096:
            out.write("\n".join(chunk) + "\n")
            chunk.clear()
    if chunk:
        out.write("\n".join(chunk) + "\n")
    out.flush()
    return count


@click.command("screen")
@click.option("--eval", "eval_files", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              multiple=True, help="Evaluate labelled case files instead of screening stdin.")
@click.option("--lexicons", "lexicon_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Lexicon directory (default: the bundled lexicons).")
@click.option("--lexicon-only", is_flag=True,
              help="Skip the learned layer: shows what the lexicons alone catch (for authors).")
@click.option("--model-report", is_flag=True,
              help="Print the learned layer's thresholds and its grouped cross-validation figures.")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def screen_command(eval_files: tuple[Path, ...], lexicon_dir: Path | None, lexicon_only: bool,
                   model_report: bool, files: tuple[Path, ...]) -> None:
    """Screen JSON lines from stdin: {"text", "lang"?, "id"?, "history"?} -> verdict lines.

    With --eval FILE... (more files may follow as arguments) print recall, critical and
    false-flag rates with Wilson bounds; exit 1 if a canonical case fails. --model-report
    shows how the learned layer was calibrated on the training sets (what the last
    retraining, e.g. after a lexicon edit, chose and why).
    """
    screen = RiskScreen.load(lexicon_dir, use_model=not lexicon_only)
    # The compiled lexicons and the model's vocabulary live as long as the process: without
    # this every full collection walks them again (as `caseline serve` does, see caseline.cli).
    gc.freeze()
    if model_report:
        if screen.model is None:
            raise click.UsageError("--model-report needs the learned layer (drop --lexicon-only)")
        click.echo(format_cv(screen.model.report))
        return
    if eval_files:
        report = evaluate(screen, load_cases([*eval_files, *files]))
        click.echo(format_report(report))
        if not report.canonical_ok:
            raise SystemExit(1)
        return
    data = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    run_screen(screen, data, sys.stdout)


@click.group("lexicons")
def lexicons_group() -> None:
    """Lexicon maintenance."""


@lexicons_group.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def check_command(paths: tuple[Path, ...]) -> None:
    """Validate lexicon files (default: all bundled); print file:line errors, exit 1 on any."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.yml")) if path.is_dir() else [path])
    problems = check_files(files) if paths else check_dir()
    for problem in problems:
        click.echo(str(problem))
    if problems:
        raise SystemExit(1)
    click.echo("lexicons ok")


@click.group()
def main() -> None:
    """Safeguarding screen tools (also registered on the main ``caseline`` CLI)."""


main.add_command(screen_command)
main.add_command(lexicons_group)

if __name__ == "__main__":
    main()
