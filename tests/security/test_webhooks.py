"""Every webhook route refuses a request without its signature or secret; secrets compare in constant time."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.bots.conftest import (  # noqa: F401  (fixtures)
    TG_SECRET,
    WA_VERIFY,
    Client,
    bot_settings,
    client,
    graph_api,
    services,
    tg_api,
    viber_api,
)

ROOT = Path(__file__).parents[2]
BODY = json.dumps({"update_id": 1, "object": "whatsapp_business_account", "event": "message"}).encode()


def webhook_routes(client: Client) -> set[tuple[str, str]]:  # noqa: F811
    return {
        (r.method, r.resource.canonical)
        for r in client.app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/webhooks") and r.method != "HEAD"
    }


async def test_each_webhook_refuses_unsigned_requests(client: Client) -> None:  # noqa: F811
    refusals = {
        ("POST", "/webhooks/telegram"): [
            {},
            {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
            {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET[:-1]},
        ],
        ("POST", "/webhooks/whatsapp"): [
            {},
            {"X-Hub-Signature-256": "sha256=" + "0" * 64},
            {"X-Hub-Signature-256": "garbage"},
        ],
        ("POST", "/webhooks/viber"): [{}, {"X-Viber-Content-Signature": "0" * 64}],
    }
    assert webhook_routes(client) == set(refusals) | {("GET", "/webhooks/whatsapp")}, "a new webhook needs a case here"
    for (method, path), variants in refusals.items():
        for headers in variants:
            resp = await client.request(
                method, path, data=BODY, headers={"Content-Type": "application/json", **headers}
            )
            assert resp.status in (401, 403), (path, headers, resp.status)
    # the WhatsApp subscription handshake needs the verify token
    for query in (
        {},
        {"hub.mode": "subscribe", "hub.challenge": "42"},
        {"hub.mode": "subscribe", "hub.challenge": "42", "hub.verify_token": "wrong"},
    ):
        resp = await client.get("/webhooks/whatsapp", params=query)
        assert resp.status == 403 and "42" not in await resp.text(), query
    ok = await client.get(
        "/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.challenge": "42", "hub.verify_token": WA_VERIFY}
    )
    assert ok.status == 200


SECRET_NAME = r"(secret|token|signature|csrf|password|digest|mac)"
PLAIN_COMPARE = re.compile(
    rf"\b\w*{SECRET_NAME}\w*(\.\w+|\[[^\]]+\]|\([^)]*\))*\s*(==|!=)\s*(?!None\b)(?!\"\")|(==|!=)\s*[\w.]*{SECRET_NAME}\w*\b(?!\s*\()",
    re.I,
)
ALLOWED = re.compile(r"len\(|\.kind\b|\.startswith|is_sealed|tokens\)|_tokens|token_count|len\w*\s*==", re.I)


def test_secrets_are_compared_in_constant_time() -> None:
    """No ``==`` on a secret-like value in the service's code (use hmac.compare_digest)."""
    found = []
    for folder in ("caseline", "casework", "bots"):
        for path in (ROOT / folder).rglob("*.py"):
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                code = line.split("#", 1)[0]
                if PLAIN_COMPARE.search(code) and not ALLOWED.search(code):
                    found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "\n".join(found)
