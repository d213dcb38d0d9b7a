"""``caseline users``: add, list, disable, reset-password; passwords only from stdin or a prompt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from casework.cli import seed_demo_user, users_group
from tests.casework.harness import casework


def test_users_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASELINE_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    result = runner.invoke(users_group, ["add", "ana", "--role", "case_worker", "--team", "default",
                                         "--password-stdin"], input="a long enough password\n")
    assert result.exit_code == 0, result.output
    result = runner.invoke(users_group, ["add", "bo", "--role", "case_worker", "--password-stdin"],
                           input="a long enough password\n")
    assert result.exit_code != 0 and "team" in result.output
    assert "ana\tcase_worker\tdefault\tactive" in runner.invoke(users_group, ["list"]).output
    assert runner.invoke(users_group, ["disable", "ana"]).exit_code == 0
    assert "disabled" in runner.invoke(users_group, ["list"]).output
    result = runner.invoke(users_group, ["reset-password", "ana", "--password-stdin"], input="short\n")
    assert result.exit_code != 0
    result = runner.invoke(users_group, ["reset-password", "ana", "--password-stdin"],
                           input="another long password\n")
    assert result.exit_code == 0, result.output
    assert "--password " not in runner.invoke(users_group, ["add", "--help"]).output


async def test_seed_demo_user_is_idempotent(make_services: Any) -> None:
    services = await make_services()
    first = await seed_demo_user(services)
    assert await seed_demo_user(services) == first
    token, _session = await casework(services).accounts.login(first[0], first[1], "bearer")
    assert token
