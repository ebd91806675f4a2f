"""The config sections of the integrations: [mqtt], [webhooks], [metrics], [web]. Each is off by default.

Credentials never live in the TOML: a section names the environment variables
that hold them (`*_env`).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from stream.secrets import mask_url
from stream.transport import is_loopback


class IntegrationSection(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class MqttSection(IntegrationSection):
    enabled: bool = False
    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(1883, ge=1, le=65535)
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    client_id: str = Field("", description="default: dfd-<hostname>-<pid>")
    topic_prefix: str = Field("dfd", pattern=r"^[^#+\s]+$", description="events go to <prefix>/events")
    discovery: bool = Field(True, description="Home Assistant MQTT discovery: a binary sensor per stream")
    discovery_prefix: str = Field("homeassistant", pattern=r"^[^#+\s]+$")
    username_env: str = Field("", description="environment variable holding the broker user name")
    password_env: str = Field("", description="environment variable holding the broker password")
    tls: bool = False
    ca_file: str = Field("", description="with tls: the CA bundle (default: the system's)")
    cert_file: str = Field("", description="with tls: a client certificate")
    key_file: str = ""
    score_every_s: float = Field(1.0, gt=0.0, description="<prefix>/<stream>/score at most this often")
    timeout_s: float = Field(5.0, gt=0.0, description="wait this long for the broker's CONNACK / PUBACK")


class WebhookSection(IntegrationSection):
    enabled: bool = False
    urls: list[str] = Field([], validate_default=True, description="each alert event is POSTed as JSON to every URL")
    secret_env: str = Field("", description="environment variable holding the HMAC-SHA256 key")
    timeout_s: float = Field(5.0, gt=0.0)

    @field_validator("urls")
    @classmethod
    def _http_urls(cls, urls: list[str], info: ValidationInfo) -> list[str]:
        if info.data.get("enabled") and not urls:
            raise ValueError("no URL, but webhooks.enabled is true")
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{mask_url(url)!r} is not an http:// or https:// URL")
        return urls


class MetricsSection(IntegrationSection):
    enabled: bool = False
    allow_remote: bool = False
    bind: str = Field("127.0.0.1", description="address of /metrics; loopback unless allow_remote")
    port: int = Field(9877, ge=0, le=65535, description="0: any free port")

    @field_validator("bind")
    @classmethod
    def _loopback(cls, bind: str, info: ValidationInfo) -> str:
        if info.data.get("enabled") and not info.data.get("allow_remote") and not is_loopback(bind):
            raise ValueError("not a loopback address; set metrics.allow_remote = true to serve /metrics there")
        return bind


class WebSection(IntegrationSection):
    enabled: bool = False
    bind: str = Field("127.0.0.1", description="address of the web page; anything but loopback needs a token")
    port: int = Field(8080, ge=0, le=65535, description="0: any free port")
    token_env: str = Field("", validate_default=True,
                           description="environment variable holding the token (?token= or Bearer)")
    live_fps: float = Field(3.0, gt=0.0, le=10.0, description="live view frames per second while a page is open")

    @field_validator("token_env")
    @classmethod
    def _token_off_loopback(cls, token_env: str, info: ValidationInfo) -> str:
        if info.data.get("enabled") and not token_env and not is_loopback(info.data.get("bind", "")):
            raise ValueError("the web page is bound off loopback; set web.token_env to the variable holding a token")
        return token_env
