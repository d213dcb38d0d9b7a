"""The ``caseline`` command line."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import click
from aiohttp import web

from bots.cli import telegram_group, viber_group
from bots.wiring import run_telegram_polling
from caseline import logs
from caseline.app import Services, build_services, create_app, describe
from caseline.chat import run_chat
from caseline.privacy_cli import privacy_commands
from caseline.reload import register_pid, reload_flows, signal_servers
from caseline.settings import Settings, SettingsError, ensure_secret_key, load_settings
from caseline.store.factory import Backend
from casework.cli import seed_demo_user, users_group
from casework.core import case_store
from flows.check import SHIPPED_CONTENT, check_dir
from flows.cli import flows_group
from flows.errors import errors_in
from nlu.cli import nlu_group
from safeguarding.cli import lexicons_group, screen_command


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def _configure_logging(level: str, fmt: str = "json") -> None:
    logs.configure(level, fmt)


# A turn allocates a few thousand short-lived objects; at the default 700 the youngest
# generation was collected several times per message.
GC_YOUNG_THRESHOLD = 20_000

async def _serve(
    settings: Settings, banner: list[str], *, demo: bool = False, telegram_polling: bool = False
) -> None:
    services = await build_services(settings)
    if telegram_polling:
        if "telegram" not in services.senders:
            raise click.ClickException("--telegram-polling needs CASELINE_TELEGRAM_TOKEN")
        services.tasks.append(asyncio.create_task(run_telegram_polling(services)))
    if demo:
        username, password = await seed_demo_user(services)
        base = f"http://{settings.host}:{settings.port}"
        banner = [banner[0], f"  Console:  {base}/console  (login: {username} / {password})", *banner[1:]]
    await _serve_services(services, banner)


async def _serve_services(services: Services, banner: list[str]) -> None:
    settings = services.settings
    app = create_app(services)
    # Lexicons, models and flows are hundreds of thousands of objects that live as long as the
    # process; left to the cyclic collector, every full collection walked them all again
    # (about 0.1 s each, several a second under load). Freezing them skips that.
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
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
    snapshots = settings.data_dir / "flow-versions"
    loop.add_signal_handler(signal.SIGHUP, reload_flows, services.pipeline.stages, snapshots)
    pid_file = register_pid(settings.data_dir)
    try:
        await stop.wait()
    finally:
        pid_file.unlink(missing_ok=True)
        await runner.cleanup()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Caseline: a safeguarding chatbot service for child protection."""


@main.command()
@click.option("--host", default=None, help="Interface to listen on (CASELINE_HOST).")
@click.option("--port", type=int, default=None, help="Port to listen on (CASELINE_PORT).")
@click.option("--log-level", default="info", show_default=True)
@click.option("--log-format", type=click.Choice(["json", "text"]), default="json", show_default=True)
@click.option("--telegram-polling", is_flag=True, help="Take Telegram updates by long polling (development).")
def serve(host: str | None, port: int | None, log_level: str, log_format: str, telegram_polling: bool) -> None:
    """Run the service for production: settings come from CASELINE_* and CASELINE_CONFIG."""
    _configure_logging(log_level, log_format)
    settings = _settings(host=host, port=port)
    if not settings.secret_key:
        raise click.ClickException(
            "CASELINE_SECRET_KEY is not set; production needs a fixed secret (use 'caseline demo' to try it)"
        )
    asyncio.run(_serve(settings, [], telegram_polling=telegram_polling))


@main.command()
@click.option("--host", default=None, help="Interface to listen on (CASELINE_HOST).")
@click.option("--port", type=int, default=None, help="Port to listen on (CASELINE_PORT).")
@click.option("--log-level", default="warning", show_default=True)
def demo(host: str | None, port: int | None, log_level: str) -> None:
    """Run an embedded demo: SQLite under the data directory, a web chat and the console."""
    _configure_logging(log_level, "text")
    settings = ensure_secret_key(_settings(host=host, port=port))
    base = f"http://{settings.host}:{settings.port}"
    banner = [f"  Web chat: {base}/", f"  Health:   {base}/healthz", "Press Ctrl+C to stop."]
    asyncio.run(_serve(settings, banner, demo=True))


@main.command()
@click.option("--lang", default=None, help="Language hint for the first message.")
def chat(lang: str | None) -> None:
    """Chat with the full pipeline in the terminal, on the embedded store."""
    settings = ensure_secret_key(_settings())
    asyncio.run(run_chat(settings, lang))


@flows_group.command("reload")
def flows_reload() -> None:
    """Validate the flow content, then tell running servers (SIGHUP) to load it."""
    settings = _settings()
    _sources, problems = check_dir(SHIPPED_CONTENT)
    errors = errors_in(problems)
    if errors:
        for problem in errors:
            click.echo(str(problem), err=True)
        raise click.ClickException("content has errors; running servers keep the version they have")
    pids = signal_servers(settings.data_dir)
    click.echo(f"signalled {len(pids)} server process(es)" if pids else "no running server found")


main.add_command(flows_group)
main.add_command(nlu_group)
main.add_command(screen_command)
main.add_command(lexicons_group)
main.add_command(users_group)
main.add_command(telegram_group)
main.add_command(viber_group)


def _open_case_check(settings: Settings, backend: Backend) -> Callable[[str], Awaitable[bool]]:
    cases = case_store(backend)
    opened: list[bool] = []

    async def has_open_case(contact: str) -> bool:
        if not opened:
            await cases.open()
            opened.append(True)
        return await cases.open_case(contact) is not None

    return has_open_case


for _command in privacy_commands(open_case_lookup=_open_case_check):
    main.add_command(_command)


if __name__ == "__main__":
    main()
