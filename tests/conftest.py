"""Shared fixtures: storage backends for the contract suites, settings, and the app."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from caseline.app import Services, build_services, load_stages
from caseline.pipeline import Stages
from caseline.settings import Settings, load_settings
from caseline.store.factory import Backend
from caseline.store.sqlite import SqliteDb
from tests.fakes.mongo import fake_async_database

SERVICES_SECRET = "test-secret-key-0123456789abcdef0123456789"
MONGO_URI = os.environ.get("CASELINE_TEST_MONGODB_URI", "")
BACKENDS = ["sqlite", "mongo-real" if MONGO_URI else "mongo-fake"]


def _mongo_line() -> str:
    if MONGO_URI:
        return "MongoDB contract tests: REAL server from CASELINE_TEST_MONGODB_URI"
    return "MongoDB contract tests: in-process fake (mongomock); set CASELINE_TEST_MONGODB_URI for a real server"


def pytest_report_header(config: pytest.Config) -> str:
    return _mongo_line()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Also at the end: ``pytest -q`` (the README's command) does not print the header."""
    terminalreporter.write_line(_mongo_line())


@pytest.fixture(scope="session")
def stages(tmp_path_factory: pytest.TempPathFactory) -> Stages:
    """Content and models load once per test session (the NLU trains once into a cache)."""
    data = tmp_path_factory.mktemp("stages")
    cache = Path(tempfile.gettempdir()) / "caseline-test-cache"
    return load_stages(load_settings(data_dir=data, cache_dir=cache, secret_key="s" * 40))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "var", secret_key="test-secret-key-" + "x" * 32)


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    kind: str = request.param
    if kind == "sqlite":
        db = SqliteDb(tmp_path / "contract.sqlite3")
        yield Backend(sqlite=db)
        await db.close()
    elif kind == "mongo-fake":
        yield Backend(mongo=fake_async_database())
    else:
        from pymongo import AsyncMongoClient

        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGO_URI, tz_aware=True)
        name = f"caseline_test_{uuid.uuid4().hex[:10]}"
        yield Backend(mongo=client[name])
        await client.drop_database(name)
        await client.close()


@pytest.fixture
async def make_services(tmp_path: Path, stages: Stages) -> AsyncIterator[Callable[..., Any]]:
    """Build full services (store, pipeline, casework) on a temporary data directory."""
    built: list[Services] = []

    async def make(backend: Backend | None = None, clock: Any = None, **values: Any) -> Services:
        config = {"data_dir": tmp_path / "data", "secret_key": SERVICES_SECRET, **values}
        kwargs: dict[str, Any] = {"stages": stages, "backend": backend}
        if clock is not None:
            kwargs["clock"] = clock
        services = await build_services(load_settings(**config), **kwargs)
        built.append(services)
        return services

    yield make
    for services in built:
        await services.store.close()
