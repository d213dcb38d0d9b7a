"""Client for a separately deployed Rasa server (``POST /model/parse``), with a safety net.

A safeguarding bot must answer even when Rasa is slow or down, so any timeout, non-200,
transport error or malformed body falls back to the embedded engine. Fallbacks are
counted (``fallbacks``, and ``caseline_nlu_rasa_fallbacks_total`` when prometheus_client
is installed) and logged by reason only: message text never reaches the logs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Literal

import aiohttp

from nlu.result import Nlu, ParseResult

log = logging.getLogger(__name__)

try:
    from prometheus_client import Counter as _PromCounter

    _FALLBACKS: Any = _PromCounter(
        "caseline_nlu_rasa_fallbacks_total",
        "Rasa /model/parse calls answered by the embedded engine instead",
        ["reason"],
    )
except ImportError:  # pragma: no cover - prometheus_client is optional
    _FALLBACKS = None
except ValueError:  # pragma: no cover - registered twice (module reloaded)
    _FALLBACKS = None


class RasaHttpNlu:
    def __init__(
        self,
        url: str,
        fallback: Nlu,
        token: str | None = None,
        timeout_s: float = 0.5,
        session: aiohttp.ClientSession | None = None,
        token_in: Literal["query", "bearer"] = "query",
    ) -> None:
        """``token`` goes as Rasa's ``?token=`` (``--auth-token``) or as a Bearer JWT."""
        self.url = url.rstrip("/") + "/model/parse"
        self.fallback = fallback
        self.token = token
        self.token_in = token_in
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.fallbacks = 0
        self._session = session
        self._owns_session = session is None

    async def parse(
        self, text: str, lang: str | None = None, message_id: str | None = None
    ) -> ParseResult:
        payload: dict[str, Any] = {"text": text}
        if message_id:
            payload["message_id"] = message_id
        try:
            body = await self._post(payload)
        except TimeoutError:
            return await self._fall_back("timeout", text, lang)
        except aiohttp.ClientResponseError as exc:
            return await self._fall_back(f"http {exc.status}", text, lang)
        except aiohttp.ClientError as exc:
            return await self._fall_back(type(exc).__name__, text, lang)
        except (ValueError, UnicodeDecodeError):
            return await self._fall_back("malformed json", text, lang)
        if not isinstance(body, Mapping) or not isinstance(body.get("intent"), Mapping):
            return await self._fall_back("unexpected shape", text, lang)
        try:
            result = ParseResult.from_rasa(body)
        except (TypeError, ValueError):
            return await self._fall_back("unexpected shape", text, lang)
        return result if result.text else ParseResult(text, *_rest(result))

    async def _post(self, payload: dict[str, Any]) -> Any:
        session = await self._get_session()
        headers, params = {}, {}
        if self.token and self.token_in == "bearer":
            headers["Authorization"] = f"Bearer {self.token}"
        elif self.token:
            params["token"] = self.token
        async with session.post(
            self.url, json=payload, headers=headers, params=params, timeout=self.timeout
        ) as resp:
            resp.raise_for_status()
            return json.loads(await resp.read())

    async def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    async def _fall_back(self, reason: str, text: str, lang: str | None) -> ParseResult:
        self.fallbacks += 1
        if _FALLBACKS is not None:
            _FALLBACKS.labels(reason=reason.split()[0]).inc()
        log.warning("rasa parse failed (%s); using embedded NLU", reason)
        return await self.fallback.parse(text, lang)

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()


def _rest(result: ParseResult) -> tuple[Any, ...]:
    return result.intent, result.intent_ranking, result.entities
