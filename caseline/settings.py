"""Typed settings, loaded once at the composition root and passed explicitly.

Sources, highest first: ``CASELINE_*`` environment variables, an optional YAML file
(``CASELINE_CONFIG``), then defaults. A bad value fails at start with its name.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class SettingsError(Exception):
    """A setting is missing or invalid; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASELINE_", extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    data_dir: Path = Path("./var")
    cache_dir: Path | None = None
    store: str = "sqlite"
    secret_key: str = ""
    public_url: str = ""
    default_country: str | None = None

    nlu: str = "embedded"
    rasa_url: str = ""
    rasa_token: str = ""
    rasa_timeout_s: float = 0.5
    nlu_threshold: float = 0.3
    nlu_ambiguity_threshold: float = 0.1

    telegram_token: str = ""
    telegram_webhook_secret: str = ""
    telegram_api_base: str = "https://api.telegram.org"
    # Telegram's limits: about 1 message a second per chat and 30 a second overall, more
    # with paid broadcasts; raise the overall rate only if the bot's quota allows it.
    telegram_chat_rate: float = Field(1.0, gt=0)
    telegram_global_rate: float = Field(30.0, gt=0)
    whatsapp_verify_token: str = ""
    whatsapp_app_secret: str = ""
    whatsapp_access_token: str = ""
    whatsapp_phone_number_id: str = ""
    # Cloud API throughput per business number: 80 messages a second by default, up to 1,000
    # once Meta upgrades the number; set it to what the number has.
    whatsapp_global_rate: float = Field(80.0, gt=0)
    whatsapp_api_base: str = "https://graph.facebook.com/v25.0"
    viber_token: str = ""
    viber_api_base: str = "https://chatapi.viber.com/pa"

    keys_file: Path | None = None
    encrypt_at_rest: bool = True
    retention_conversation_days: int = Field(30, ge=1)
    retention_inbound_days: int = Field(8, ge=1)
    retention_sent_outbox_days: int = Field(30, ge=1)

    max_body_bytes: int = Field(256 * 1024, ge=1024)
    lease_seconds: float = Field(30.0, gt=0)
    safety_mode_turns: int = Field(3, ge=1)

    @field_validator("store")
    @classmethod
    def _store_kind(cls, value: str) -> str:
        if value != "sqlite" and not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("must be 'sqlite' or a mongodb:// URI")
        return value

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "caseline.sqlite3"

    @property
    def model_cache(self) -> Path:
        """Trained models (NLU, screen), keyed by a hash of their data: safe to share."""
        return self.cache_dir or self.data_dir / "cache"

    @property
    def uses_mongo(self) -> bool:
        return self.store != "sqlite"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))


class _YamlSource(PydanticBaseSettingsSource):
    """Reads ``CASELINE_CONFIG`` (a YAML mapping of setting names to values)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("CASELINE_CONFIG")
        if not path:
            return {}
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise SettingsError(f"CASELINE_CONFIG ({path}): {exc}") from exc
        if not isinstance(data, dict):
            raise SettingsError(f"CASELINE_CONFIG ({path}): expected a mapping of settings")
        return data


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning pydantic's report into one line per bad setting."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"CASELINE_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from exc
    return settings


def ensure_secret_key(settings: Settings) -> Settings:
    """Demo convenience: keep a generated key in the data directory across restarts."""
    if settings.secret_key:
        return settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key_file = settings.data_dir / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        key_file.chmod(0o600)
    return settings.model_copy(update={"secret_key": key_file.read_text(encoding="utf-8").strip()})
