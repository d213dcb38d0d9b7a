"""On-call alerting: a Telegram chat and an HTTP webhook, behind one small port.

An alert carries a link to the case, its severity, team and the breach kind, and
nothing about the child: no text, no contact id. Senders return False on failure so
the sweeper can forget the alert and try again on its next pass.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Protocol

import aiohttp

log = logging.getLogger("caseline.casework.notify")
TIMEOUT = aiohttp.ClientTimeout(total=10)


@dataclass(frozen=True, slots=True)
class Alert:
    case_id: str
    kind: str
    severity: str
    team: str
    link: str

    @property
    def text(self) -> str:
        what = {
            "critical_unclaimed": "critical case is waiting unclaimed",
            "sla_breach": "case has passed its first-response SLA",
        }.get(self.kind, self.kind)
        return f"Caseline alert ({self.team}): a {self.severity} {what}. Open: {self.link}"


class Notifier(Protocol):
    name: str

    async def send(self, alert: Alert) -> bool: ...


class HttpClient:
    """One aiohttp session for all notifiers, opened on first use, closed at shutdown."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _post(http: HttpClient, url: str, body: dict[str, object], name: str) -> bool:
    try:
        async with http.session.post(url, json=body) as resp:
            if resp.status < 300:
                return True
            log.warning("%s alert refused: HTTP %s", name, resp.status)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("%s alert failed: %s", name, type(exc).__name__)
    return False


class TelegramNotifier:
    name = "telegram"

    def __init__(self, http: HttpClient, api_base: str, token: str, chat_id: str) -> None:
        self.http = http
        self.url = f"{api_base.rstrip('/')}/bot{token}/sendMessage"
        self.chat_id = chat_id

    async def send(self, alert: Alert) -> bool:
        body: dict[str, object] = {
            "chat_id": self.chat_id,
            "text": alert.text,
            "disable_web_page_preview": True,
        }
        return await _post(self.http, self.url, body, self.name)


class WebhookNotifier:
    name = "webhook"

    def __init__(self, http: HttpClient, url: str) -> None:
        self.http = http
        self.url = url

    async def send(self, alert: Alert) -> bool:
        return await _post(self.http, self.url, {"type": "caseline.alert", **asdict(alert)}, self.name)
