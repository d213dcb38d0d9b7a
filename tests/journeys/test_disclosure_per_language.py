"""Issue 3, must-show 4: in every required language a disclosure gets the safe response
with the country's helpline, and a case lands in the case-worker queue."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from caseline.identity import contact_id
from caseline.messages import Inbound
from tests.casework.harness import casework

HELPLINES = yaml.safe_load((Path(__file__).resolve().parents[2] / "safeguarding" / "helplines.yml").read_text())

# "My stepdad hits me every night", as a child would write it in each language.
DISCLOSURES = {
    "en": "my stepdad hits me every night",
    "ru": "отчим бьёт меня каждый вечер",
    "uk": "вітчим б'є мене щовечора",
    "ro": "tatăl meu vitreg mă bate în fiecare seară",
    "sr": "očuh me tuče svako veče",
    "tr": "üvey babam her akşam beni dövüyor",
    "sq": "njerku më rreh çdo mbrëmje",
    "ar": "زوج أمي يضربني كل ليلة",
}


def expected_numbers(lang: str) -> list[str]:
    country = HELPLINES["language_country"].get(lang)
    entry = HELPLINES["countries"][country] if country else HELPLINES["default"]
    return [line["number"] for line in entry["lines"] if line.get("offer", True)]


@pytest.mark.parametrize("lang", sorted(DISCLOSURES))
async def test_disclosure_gets_country_helpline_and_opens_a_case(lang: str, make_services: Any) -> None:
    services = await make_services()
    key = services.settings.secret_key
    contact = contact_id(key, "webchat", f"child-{lang}")
    message = Inbound("webchat", f"child-{lang}", contact, f"{lang}-1", datetime.now(UTC),
                      text=DISCLOSURES[lang], lang_hint=lang)
    seq = await services.pipeline.submit(message)
    assert seq is not None
    replies = [item.reply for item in await services.store.outbox_for_inbound(seq)]
    text = "\n".join(r.text for r in replies)
    numbers = expected_numbers(lang)
    assert numbers and any(n in text for n in numbers), (lang, numbers, text)
    assert any(b.payload == "safety:human" for r in replies for b in r.buttons), "offer a person"
    cases = await casework(services).store.list_cases(None, ["waiting"])
    [case] = [c for c in cases if c.contact_id == contact]
    assert case.severity in ("high", "critical") and "physical_abuse" in case.categories
