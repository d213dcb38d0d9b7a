"""Placeholder safe response (foundation); replaced by the helpline-aware responder."""

from __future__ import annotations

from caseline.messages import Button, Reply
from safeguarding.verdict import Verdict


class SafetyResponder:
    @classmethod
    def load(cls) -> SafetyResponder:
        return cls()

    def reply(self, verdict: Verdict, lang: str, country: str | None) -> list[Reply]:
        return [
            Reply(
                "Thank you for telling me. It is not your fault. A person from our team will "
                "read this. If you are in danger now, call 112. Child helpline: 116 111.",
                buttons=(Button("safety:human", "Talk to a person"),),
            )
        ]

    def followup(self, text: str, lang: str, country: str | None) -> list[Reply]:
        return self.help_details(lang, country)

    def help_details(self, lang: str, country: str | None) -> list[Reply]:
        return [Reply("Child helpline: 116 111. Emergency: 112.")]

    def is_safe_word(self, text: str) -> bool:
        return text.strip().casefold() == "safe"
