"""``caseline nlu ...``: check, train, parse, test and export the NLU data from a shell."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from nlu.check import check_dir
from nlu.embedded import DATA_DIR, EmbeddedNlu
from nlu.export import export_rasa
from nlu.rasa_data import DataError, load_dir


def default_cache_dir() -> Path:
    base = os.environ.get("CASELINE_DATA_DIR")
    return Path(base) / "nlu-cache" if base else Path("var") / "nlu-cache"


_data_dir = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=DATA_DIR,
    show_default="the package's nlu/data",
)
_cache_dir = click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Model cache [default: $CASELINE_DATA_DIR/nlu-cache or ./var/nlu-cache]",
)


@click.group("nlu")
def nlu_group() -> None:
    """Natural-language understanding: Rasa-format data, embedded engine, evaluation."""


@nlu_group.command("check")
@_data_dir
def check_cmd(data_dir: Path) -> None:
    """Validate the training data; exit 1 on errors."""
    issues = check_dir(data_dir)
    for issue in issues:
        click.echo(str(issue))
    errors = sum(i.level == "error" for i in issues)
    click.echo(f"{errors} error(s), {len(issues) - errors} warning(s)", err=True)
    if errors:
        sys.exit(1)


def _load(data_dir: Path, cache_dir: Path | None) -> EmbeddedNlu:
    try:
        return EmbeddedNlu.load(data_dir, cache_dir or default_cache_dir())
    except DataError as exc:
        raise click.ClickException(str(exc)) from exc


@nlu_group.command("train")
@_data_dir
@_cache_dir
def train_cmd(data_dir: Path, cache_dir: Path | None) -> None:
    """Train (or reuse the cached model) and print the timing."""
    nlu = _load(data_dir, cache_dir)
    how = "loaded from cache" if nlu.from_cache else "trained"
    click.echo(f"{how} in {nlu.load_seconds:.2f}s: {nlu.cache_path}")
    click.echo(f"{len(nlu.model.labels)} classes, {nlu.model.vocab.size} features")


@nlu_group.command("parse")
@_data_dir
@_cache_dir
def parse_cmd(data_dir: Path, cache_dir: Path | None) -> None:
    """Read JSON lines {"text", "lang"?, "id"?}; write Rasa /model/parse JSON lines."""
    nlu = _load(data_dir, cache_dir)
    for line in sys.stdin:
        if line.strip():
            click.echo(json.dumps(_parse_line(nlu, line), ensure_ascii=False))


def _parse_line(nlu: EmbeddedNlu, line: str) -> dict[str, Any]:
    try:
        request = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"error": f"invalid JSON: {exc.msg}"}
    if not isinstance(request, dict) or not isinstance(request.get("text"), str):
        return {"error": "expected an object with a string 'text'"}
    lang = request.get("lang")
    out = nlu.parse_sync(request["text"], lang if isinstance(lang, str) else None).to_rasa()
    if "id" in request:
        out["id"] = request["id"]
    return out


@nlu_group.command("test")
@_data_dir
@_cache_dir
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2, 20))
@click.option(
    "--out", default=Path("results"), show_default=True, type=click.Path(path_type=Path)
)
def test_cmd(data_dir: Path, cache_dir: Path | None, folds: int, out: Path) -> None:
    """Cross-validate; write intent_report.json, intent_errors.json, oos_report.json."""
    from nlu.evaluate import cross_validate, evaluate_oos, summary, write_reports

    started = time.perf_counter()
    evaluation = cross_validate(load_dir(data_dir), folds=folds)
    oos_file = data_dir / "oos_eval.yml"
    if oos_file.exists():
        evaluation.oos = evaluate_oos(_load(data_dir, cache_dir), oos_file)
    write_reports(evaluation, out)
    click.echo(summary(evaluation))
    click.echo(f"reports in {out}/ ({time.perf_counter() - started:.1f}s)")


@nlu_group.command("export-rasa")
@_data_dir
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
def export_cmd(data_dir: Path, out_dir: Path) -> None:
    """Write a Rasa 3.x project (config.yml, domain.yml, data/nlu.yml) to OUT_DIR."""
    for path in export_rasa(data_dir, out_dir):
        click.echo(str(path))


if __name__ == "__main__":  # pragma: no cover
    nlu_group()
