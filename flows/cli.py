"""``caseline flows ...``: commands for content designers (the lead mounts ``flows_group``)."""

from __future__ import annotations

from pathlib import Path

import click

from flows.check import SHIPPED_CONTENT, check_dir
from flows.errors import Severity
from flows.spec import REQUIRED_LANGS


@click.group(name="flows")
def flows_group() -> None:
    """Guided conversation flows."""


@flows_group.command("check")
@click.argument("content_dir", required=False, type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--langs",
    default=",".join(REQUIRED_LANGS),
    show_default=True,
    help="Languages every string must have.",
)
@click.option(
    "--translations",
    type=click.Choice(["error", "warning"]),
    default=None,
    help="How to treat missing translations (default: error for the shipped content).",
)
def check_command(content_dir: Path | None, langs: str, translations: str | None) -> None:
    """Check flow files: syntax, schema, references, reachability, translations, limits."""
    target = content_dir or _shown(SHIPPED_CONTENT)
    shipped = target.resolve() == SHIPPED_CONTENT.resolve()
    severity: Severity = "error" if shipped else "warning"
    if translations is not None:
        severity = "error" if translations == "error" else "warning"
    required = tuple(lang.strip() for lang in langs.split(",") if lang.strip())
    sources, problems = check_dir(target, required, severity)
    for problem in problems:
        click.echo(str(problem))
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    click.echo(f"{len(sources)} files, {errors} errors, {warnings} warnings", err=True)
    if errors:
        raise click.exceptions.Exit(1)


def _shown(path: Path) -> Path:
    """``path`` relative to the working directory when it is below it, for short messages."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


if __name__ == "__main__":
    flows_group()
