"""The validated configuration of `dfd watch` and `dfd scan`.

One schema holds every default. A TOML file is merged with the CLI's
overrides first, so a bad flag gets the same one-line error as a bad file.
"""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edge_model.decision import DecisionLevels
from edge_model.errors import DfdError
from edge_model.settings import PipelineSettings
from stream.sinks.settings import MetricsSection, MqttSection, WebhookSection, WebSection
from stream.transport import bind_problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib



def _config_dir() -> Path:
    """configs/ of a source checkout, else the copy `pip install` puts in <prefix>/share/dfd/configs."""
    checkout = Path(__file__).resolve().parent.parent / "configs"
    return checkout if checkout.is_dir() else Path(sys.prefix) / "share" / "dfd" / "configs"


CONFIG_DIR = _config_dir()


class ConfigError(DfdError):
    """A bad configuration value: its message is one line that names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelSection(_Section):
    """Defaults of [model], [detector] and [tracker]: edge_model.settings.PipelineSettings."""

    path: str = Field("", description="model folder; empty means the packaged default model")
    threads: int = Field(PipelineSettings.threads, ge=1, le=64, description="onnxruntime intra-op threads per worker")
    precision: Literal["int8", "fp32"] = PipelineSettings.precision
    batch: int = Field(4, ge=1, le=32, description="a worker encodes the faces of up to this many streams' "
                       "waiting frames in one batch (cheaper per face; a lone frame never waits)")


class DetectorSection(_Section):
    range: Literal["auto", "short", "full"] = PipelineSettings.range
    min_score: float = Field(PipelineSettings.min_score, gt=0.0, lt=1.0)
    # 3: a detection every 0.1 s at 30 fps, two thirds of the detector's CPU saved; the default model's suite
    # did not move beyond one rank at 10 or 30 fps (training/reports/detect_every/); preprocessing keeps
    # PipelineSettings' 1
    every: int = Field(3, ge=1, le=30, description="run the detector on every k-th frame, track between")
    max_faces: int = Field(PipelineSettings.max_faces, ge=1, le=32)


class TrackerSection(_Section):
    iou: float = Field(PipelineSettings.iou, gt=0.0, lt=1.0)
    max_missed: int = Field(PipelineSettings.max_missed, ge=1, le=300)


class PolicySection(_Section):
    """The decision rule's levels (defaults: edge_model.decision.DecisionLevels) and the live update cadence."""

    on: float | None = Field(None, gt=0.0, lt=1.0, description="alert on-level; default: the model's threshold")
    off_margin: float = Field(DecisionLevels.off_margin, ge=0.0, lt=1.0, description="the off-level is on - off_margin")
    min_duration_s: float = Field(DecisionLevels.min_duration_s, ge=0.0)
    end_after_s: float = Field(DecisionLevels.end_after_s, ge=0.0)
    cooldown_s: float = Field(DecisionLevels.cooldown_s, ge=0.0)
    min_track_frames: int = Field(
        DecisionLevels.min_track_frames, ge=1, description="a track's windows count once it has this many faces"
    )
    min_face_score: float = Field(
        DecisionLevels.min_face_score, ge=0.0, lt=1.0, description="... and their mean detector score is this high"
    )
    update_every_s: float = Field(2.0, gt=0.0)

    def levels(self, threshold: float) -> DecisionLevels:
        """The rule's levels for `dfd watch` and `dfd scan`; `on` defaults to the model's calibrated threshold."""
        return DecisionLevels(
            self.on if self.on is not None else threshold, self.off_margin, self.min_duration_s,
            self.end_after_s, self.cooldown_s, self.min_track_frames, self.min_face_score,
        )


class StreamSection(_Section):
    workers: Annotated[int, Field(ge=1, le=64)] | Literal["auto"] = Field(
        "auto", description='"auto": one per core left after the captures (0.06 core a stream) and the '
        "supervisor, rounded up; at most one per stream, at least one",
    )
    ring_slots: int = Field(
        5, ge=4, le=256, description="at least the 3 frames a worker may hold and the one being written; each slot"
        " is max_width x max_height x 3 bytes of shared memory, resident in the capture and its worker once used",
    )
    sample_fps: float = Field(
        0.0, ge=0.0, le=240.0, description="frames a second each capture hands to the workers; 0: every frame. The "
        "frames between are still decoded (the codec needs them), not converted, copied or scored",
    )
    streams_per_capture: int = Field(
        8, ge=1, le=64, description="sources one capture process reads, a thread each: they share its libraries"
        " (about 55 MiB a process); a crash restarts the process's streams together. 1: a process per source",
    )
    max_width: int = Field(1280, ge=64, le=7680, description="wider frames are scaled down before the ring")
    max_height: int = Field(720, ge=64, le=4320)
    transport: Literal["ipc", "tcp"] = "ipc"
    bind: str = Field("127.0.0.1", description="address that tcp:// endpoints bind to")
    insecure_loopback: bool = Field(False, description="tcp on loopback without CURVE keys: lets every local user in")
    curve_secret_key: str = Field("", description="this host's NAME.key from `dfd keys`: CURVE on tcp://")
    curve_authorized: str = Field("", description="folder (or file) of the public keys allowed to connect")
    curve_server_key: str = Field("", description="on a worker host: the capture host's NAME.key.pub")
    stall_timeout_s: float = Field(10.0, gt=0.0)
    reconnect_base_s: float = Field(0.5, gt=0.0)
    reconnect_max_s: float = Field(30.0, gt=0.0)
    max_restarts: int = Field(5, ge=0, description="crash restarts of one process allowed in restart_window_s")
    restart_window_s: float = Field(600.0, gt=0.0)
    offline_retry_s: float = Field(300.0, gt=0.0, description="a capture out of restarts is tried again after this")
    loop: bool = False
    realtime: bool = True


class SourceSection(_Section):
    name: str = Field(min_length=1, max_length=64)
    url: str = Field(min_length=1)
    password_env: str = Field("", description="environment variable holding the password for the URL")


class AlertsSection(_Section):
    url: str = "sqlite:///alerts.db"
    password_env: str = Field("", description="environment variable holding the database password")
    spool: str = "alerts.spool"
    evidence_dir: str = "evidence"
    clip_frames: int = Field(16, ge=1, le=300)


class ConsoleSection(_Section):
    enabled: bool = True
    refresh_hz: float = Field(4.0, gt=0.0, le=30.0)


def _is_dir(path: str) -> bool:
    """Path.is_dir, but a name too long for the OS is just not a folder (no OSError escapes)."""
    try:
        return Path(path).is_dir()
    except OSError:
        return False


class Config(_Section):
    model: ModelSection = ModelSection()
    detector: DetectorSection = DetectorSection()
    tracker: TrackerSection = TrackerSection()
    policy: PolicySection = PolicySection()
    stream: StreamSection = StreamSection()
    sources: list[SourceSection] = []
    alerts: AlertsSection = AlertsSection()
    console: ConsoleSection = ConsoleSection()
    mqtt: MqttSection = MqttSection()
    webhooks: WebhookSection = WebhookSection()
    metrics: MetricsSection = MetricsSection()
    web: WebSection = WebSection()

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[SourceSection]) -> list[SourceSection]:
        names = [s.name for s in sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate source name {dupes[0]!r}")
        return sources

    def pipeline(self) -> PipelineSettings:
        """The settings edge_model.pipeline.build_pipeline takes, from [model], [detector] and [tracker]."""
        return PipelineSettings(self.model.threads, self.model.precision, **self.detector.model_dump(),
                                **self.tracker.model_dump())

    @model_validator(mode="after")
    def _check_paths(self) -> Config:
        if self.model.path and not _is_dir(self.model.path):
            raise ValueError(f"model.path: no such model folder: {self.model.path!r}")
        if self.stream.reconnect_max_s < self.stream.reconnect_base_s:
            raise ValueError("stream.reconnect_max_s: must be >= stream.reconnect_base_s")
        s = self.stream
        problem = bind_problem(s.bind, bool(s.curve_secret_key), bool(s.curve_authorized),
                               open_loopback=s.insecure_loopback or s.transport != "tcp")
        if problem:
            raise ValueError(problem)
        return self


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def _known_keys(loc: tuple) -> list[str]:
    """The keys allowed next to the unknown one at `loc`, e.g. ("stream", "wrokers") -> StreamSection's."""
    model: Any = Config
    for part in loc[:-1]:
        if isinstance(part, int):  # an entry of [[sources]]
            continue
        annotation = model.model_fields[part].annotation
        model = getattr(annotation, "__args__", (annotation,))[0]
    return list(model.model_fields)


def _one_line(err: ValidationError) -> str:
    first = err.errors()[0]
    # our keys are snake_case; "constrained-int" or "literal['auto']" name a member of a union, not a key
    key = ".".join(str(p) for p in first["loc"] if not any(c in str(p) for c in "-["))
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(first["loc"][-1]), _known_keys(first["loc"]), n=1, cutoff=0.6)
        parent = ".".join(str(p) for p in first["loc"][:-1] if not isinstance(p, int))
        hint = f" (did you mean {parent + '.' if parent else ''}{close[0]}?)" if close else ""
        return f"{key}: unknown key{hint}"
    if not first["loc"]:  # a check across sections: its message already names the key
        return msg
    value = first.get("input")
    shown = "" if isinstance(value, dict | list) or value is None else f" (got {value!r})"
    return f"{key or 'config'}: {msg}{shown}"


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read TOML (none: the built-in defaults), apply dotted overrides, validate."""
    tree: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config: no such file: {p}")
        try:
            tree = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config: {p} is not valid TOML: {exc}") from None
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(tree, dotted, value)
    try:
        return Config.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None


def secret_from_env(var: str, key: str = "password_env") -> str | None:
    """Look up a secret by the name of its environment variable, if one is named."""
    if not var:
        return None
    if var not in os.environ:
        raise ConfigError(f"{key}: environment variable {var} is not set")
    return os.environ[var]
