"""Casework configuration: team routing, SLAs, leases, duty hours, alerts, canned replies.

Read once at start from ``content/*.yml`` beside this module, with the file named by
``CASELINE_CASEWORK_CONFIG`` overriding top-level keys, so a deployment changes teams
and SLAs without touching code. A bad value fails at start naming the key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from casework.model import ROLES

CONTENT = Path(__file__).parent / "content"


class ConfigError(Exception):
    """A casework setting is missing or invalid; the message names it."""


@dataclass(frozen=True)
class Route:
    channel: str
    country: str
    team: str


@dataclass(frozen=True)
class DutyHours:
    """When people staff the queue; outside them a contact is told when to expect a reply."""

    tz: ZoneInfo
    days: frozenset[int]
    start: time
    end: time

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.tz)
        return local.weekday() in self.days and self.start <= local.time() < self.end

    def next_opening(self, now: datetime) -> datetime:
        local = now.astimezone(self.tz)
        for offset in range(8):
            day = (local + timedelta(days=offset)).date()
            opening = datetime.combine(day, self.start, tzinfo=self.tz)
            if day.weekday() in self.days and opening > local:
                return opening
        return local


@dataclass(frozen=True)
class CannedReply:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class Referral:
    id: str
    name: str
    contact: str


@dataclass(frozen=True)
class CaseworkConfig:
    default_team: str = "default"
    routes: tuple[Route, ...] = ()
    sla: dict[str, timedelta] = field(default_factory=dict)
    lease: timedelta = timedelta(minutes=10)
    sweep_seconds: float = 15.0
    active_within: timedelta = timedelta(minutes=15)
    hours: DutyHours | None = None
    telegram_chat_id: str = ""
    webhook_url: str = ""
    max_failed_logins: int = 5
    lockout: timedelta = timedelta(minutes=15)
    session_lifetime: timedelta = timedelta(hours=10)
    session_idle: timedelta = timedelta(minutes=30)
    require_totp_for: frozenset[str] = frozenset()
    login_window: timedelta = timedelta(minutes=5)
    logins_per_account: int = 10
    logins_per_address: int = 60
    trusted_proxies: frozenset[str] = frozenset()
    max_json_bytes: int = 64 * 1024
    canned: dict[str, tuple[CannedReply, ...]] = field(default_factory=dict)
    closing: dict[str, str] = field(default_factory=dict)
    referrals: tuple[Referral, ...] = ()

    def team_for(self, channel: str, country: str | None) -> str:
        for route in self.routes:
            if route.channel in ("*", channel) and route.country in ("*", country or ""):
                return route.team
        return self.default_team

    @property
    def teams(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([self.default_team, *(r.team for r in self.routes)]))

    def sla_for(self, severity: str) -> timedelta | None:
        return self.sla.get(severity)

    def closing_text(self, lang: str) -> str:
        return self.closing.get(lang) or self.closing.get("en") or "Thank you for talking with us."

    def canned_for(self, lang: str) -> tuple[CannedReply, ...]:
        return self.canned.get(lang) or self.canned.get("en", ())


def _yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _minutes(raw: dict[str, Any], key: str, default: float) -> timedelta:
    value = raw.get(key, default)
    if not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"casework.{key} must be a positive number of minutes")
    return timedelta(minutes=value)


def _hours(raw: Any) -> DutyHours | None:
    if raw is None:
        return None
    try:
        return DutyHours(
            ZoneInfo(str(raw.get("tz", "UTC"))),
            frozenset(int(d) for d in raw.get("days", range(7))),
            time.fromisoformat(str(raw["start"])),
            time.fromisoformat(str(raw["end"])),
        )
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(f"casework.duty.hours is invalid: {exc}") from exc


def _canned(raw: Any) -> tuple[dict[str, tuple[CannedReply, ...]], dict[str, str]]:
    canned, closing = {}, {}
    for lang, block in (raw or {}).items():
        canned[str(lang)] = tuple(
            CannedReply(str(r["id"]), str(r["title"]), str(r["text"])) for r in block.get("replies", ())
        )
        if block.get("closing"):
            closing[str(lang)] = str(block["closing"])
    return canned, closing


def _roles(raw: Any) -> frozenset[str]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list) or not all(r in ROLES for r in raw):
        raise ConfigError(f"casework.auth.require_totp_for must be a list of roles from {', '.join(ROLES)}")
    return frozenset(str(r) for r in raw)


def _positive_int(raw: dict[str, Any], key: str, default: int) -> int:
    value = raw.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"casework.{key} must be a positive whole number")
    return value


def load_config(path: str | None = None, **overrides: Any) -> CaseworkConfig:
    """Defaults from the packaged YAML, then the deployment's file, then keyword overrides."""
    raw: dict[str, Any] = dict(_yaml(CONTENT / "casework.yml"))
    path = path or os.environ.get("CASELINE_CASEWORK_CONFIG")
    if path:
        extra = _yaml(Path(path))
        if not isinstance(extra, dict):
            raise ConfigError(f"{path}: expected a mapping")
        raw.update(extra)
    raw.update(overrides)
    teams, duty, alerts, auth = (dict(raw.get(k) or {}) for k in ("teams", "duty", "alerts", "auth"))
    canned, closing = _canned(_yaml(CONTENT / "canned.yml"))
    try:
        return CaseworkConfig(
            default_team=str(teams.get("default", "default")),
            routes=tuple(
                Route(str(r.get("channel", "*")), str(r.get("country", "*")), str(r["team"]))
                for r in teams.get("routes") or ()
            ),
            sla={str(k): timedelta(minutes=float(v)) for k, v in (raw.get("sla_minutes") or {}).items()},
            lease=_minutes(raw, "lease_minutes", 10),
            sweep_seconds=float(raw.get("sweep_seconds", 15)),
            active_within=_minutes(duty, "active_within_minutes", 15),
            hours=_hours(duty.get("hours")),
            telegram_chat_id=str(alerts.get("telegram_chat_id") or ""),
            webhook_url=str(alerts.get("webhook_url") or ""),
            max_failed_logins=int(auth.get("max_failed_logins", 5)),
            lockout=_minutes(auth, "lockout_minutes", 15),
            session_lifetime=timedelta(hours=float(auth.get("session_hours", 10))),
            session_idle=_minutes(auth, "idle_minutes", 30),
            require_totp_for=_roles(auth.get("require_totp_for", raw.get("require_totp_for"))),
            login_window=_minutes(auth, "login_window_minutes", 5),
            logins_per_account=_positive_int(auth, "logins_per_account", 10),
            logins_per_address=_positive_int(auth, "logins_per_address", 60),
            trusted_proxies=frozenset(str(p) for p in auth.get("trusted_proxies") or ()),
            max_json_bytes=_positive_int(raw, "max_json_bytes", 64 * 1024),
            canned=canned,
            closing=closing,
            referrals=tuple(
                Referral(str(r["id"]), str(r["name"]), str(r.get("contact", "")))
                for r in _yaml(CONTENT / "referrals.yml") or ()
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"casework config is invalid: {exc}") from exc
