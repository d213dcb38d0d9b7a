"""The ``caseline`` command line."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import click
from aiohttp import web

from caseline.app import build_services, create_app, describe
from caseline.settings import Settings, SettingsError, ensure_secret_key, load_settings


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")


async def _serve(settings: Settings, banner: list[str]) -> None:
    services = await build_services(settings)
    app = create_app(services)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    click.echo(f"Caseline is running: {describe(services)}")
    for line in banner:
        click.echo(line)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Caseline: a safeguarding chatbot service for child protection."""


@main.command()
@click.option("--host", default=None, help="Interface to listen on (CASELINE_HOST).")
@click.option("--port", type=int, default=None, help="Port to listen on (CASELINE_PORT).")
@click.option("--log-level", default="info", show_default=True)
def serve(host: str | None, port: int | None, log_level: str) -> None:
    """Run the service for production: settings come from CASELINE_* and CASELINE_CONFIG."""
    _configure_logging(log_level)
    settings = _settings(host=host, port=port)
    if not settings.secret_key:
        raise click.ClickException(
            "CASELINE_SECRET_KEY is not set; production needs a fixed secret (use 'caseline demo' to try it)"
        )
    asyncio.run(_serve(settings, []))


@main.command()
@click.option("--host", default=None, help="Interface to listen on (CASELINE_HOST).")
@click.option("--port", type=int, default=None, help="Port to listen on (CASELINE_PORT).")
@click.option("--log-level", default="warning", show_default=True)
def demo(host: str | None, port: int | None, log_level: str) -> None:
    """Run an embedded demo: SQLite under the data directory, a web chat and the console."""
    _configure_logging(log_level)
    settings = ensure_secret_key(_settings(host=host, port=port))
    base = f"http://{settings.host}:{settings.port}"
    banner = [f"  Web chat: {base}/", f"  Health:   {base}/healthz", "Press Ctrl+C to stop."]
    asyncio.run(_serve(settings, banner))


if __name__ == "__main__":
    main()
