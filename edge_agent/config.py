"""Configuration: a TOML file over typed, frozen defaults; every error names its key.

``edge-agent config show [--config PATH]`` prints the effective configuration,
so a technician sees exactly what the daemon will use. Unknown keys are
errors (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from edge_agent.errors import ConfigError

__all__ = ["DEFAULT_PATH", "Config", "ConfigError", "check_api", "load_config"]

DEFAULT_PATH = Path(os.environ.get("EDGE_AGENT_CONFIG", "/etc/edge-agent/config.toml"))


@dataclass(frozen=True)
class CameraConfig:
    source: str = "picamera"  # picamera | /dev/videoN | a clip or frame folder
    width: int = 0  # 0: from models.target (640x480 at 15 or 30 frames/s)
    height: int = 0
    fps: float = 0.0


@dataclass(frozen=True)
class ModelsConfig:
    directory: str = ""  # empty: the models/ folder of this installation
    precision: str = "float"  # SFace float16 (int8 is slower on x86; time both on the Pi) or dlib-float/dlib-int8
    threads: int = 0  # 0: from target
    target: str = "auto"  # auto (read the board name) | pi4 | pi5 | generic: see edge_agent/target.py


@dataclass(frozen=True)
class CarrierConfig:
    target: str = ""  # HOST:PORT of the carrier's result service; empty until provisioned
    deadline_s: float = 5.0
    send_similarity: bool = False  # raw scores help attackers hill-climb: off unless the carrier needs them


@dataclass(frozen=True)
class ApiConfig:
    socket: str = "/run/edge-agent/agent.sock"
    socket_group: str = "edge-terminal"
    # e.g. 127.0.0.1:7070; empty = Unix socket only. The API carries reference photos: any address
    # other than loopback needs mutual TLS (all three tls_* files), or the configuration is refused.
    tcp: str = ""
    tls_cert: str = ""  # PEM certificate the agent presents on api.tcp
    tls_key: str = ""  # its private key (PEM)
    tls_client_ca: str = ""  # PEM CA that signed the terminals' client certificates (required when set)
    result_window_s: float = 900.0  # GetResult answers the session's own client for this long after it ends


@dataclass(frozen=True)
class OutboxSettings:
    # Acknowledged records are deleted this long after the carrier's acknowledgement (the device counter
    # is kept apart and never goes back); pending and rejected records are never deleted.
    retention_days: float = 30.0


@dataclass(frozen=True)
class LivenessSettings:
    steps: int = 3
    step_timeout_s: float = 5.0
    seed: int = -1  # -1: a fresh random challenge order per session; fixed seeds are for tests and demos only


@dataclass(frozen=True)
class Config:
    state_dir: str = "/var/lib/edge-agent"
    log_format: str = "auto"  # auto (JSON under systemd) | json | console
    camera: CameraConfig = field(default_factory=CameraConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    carrier: CarrierConfig = field(default_factory=CarrierConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    liveness: LivenessSettings = field(default_factory=LivenessSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def effective(self) -> Config:
        """Zero thread counts and camera sizes replaced by the target's choice for this device."""
        from edge_agent.target import resolve_target

        t = resolve_target(self.models.target)
        cam, models = self.camera, self.models
        return dataclasses.replace(
            self,
            camera=dataclasses.replace(cam, width=cam.width or t.width, height=cam.height or t.height,
                                       fps=cam.fps or t.fps),
            models=dataclasses.replace(models, threads=models.threads or t.threads, target=t.name),
        )


_CHOICES = {
    "log_format": {"auto", "json", "console"},
    "models.precision": {"float", "int8", "dlib-float", "dlib-int8"},
    "models.target": {"auto", "pi4", "pi5", "generic"},
}
_POSITIVE = {"carrier.deadline_s", "liveness.steps", "liveness.step_timeout_s", "api.result_window_s",
             "outbox.retention_days"}
_NOT_NEGATIVE = {"camera.width", "camera.height", "camera.fps", "models.threads"}  # 0 = from the target


def _check(key: str, typ: Any, value: Any) -> Any:
    if typ is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
    elif typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
    elif typ is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        value = float(value)
    elif typ is str and not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if key in _POSITIVE and value <= 0:
        raise ConfigError(f"{key}: must be greater than 0, got {value!r}")
    if key in _NOT_NEGATIVE and value < 0:
        raise ConfigError(f"{key}: must be 0 (from the target) or more, got {value!r}")
    if key in _CHOICES and value not in _CHOICES[key]:
        raise ConfigError(f"{key}: must be one of {', '.join(sorted(_CHOICES[key]))}; got {value!r}")
    return value


def _build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown key{'s' if len(unknown) > 1 else ''}: "
                          + ", ".join(f"{prefix}{k}" for k in unknown))
    values: dict[str, Any] = {}
    for name in names:
        key = f"{prefix}{name}"
        typ = hints[name]
        if get_origin(typ) in (Union, types.UnionType):
            typ = next(t for t in get_args(typ) if t is not type(None))
        if dataclasses.is_dataclass(typ):
            section = data.get(name, {})
            if not isinstance(section, dict):
                raise ConfigError(f"{key}: expected a table [{key}]")
            values[name] = _build(typ, section, f"{key}.")  # type: ignore[arg-type]
        elif name in data:
            values[name] = _check(key, typ, data[name])
    return cls(**values)


def load_config(path: Path | None = None) -> Config:
    """Defaults overlaid with ``path`` (when it exists; a missing default file means defaults)."""
    target = path or DEFAULT_PATH
    if not target.exists():
        if path is not None:
            raise ConfigError(f"config file {path} does not exist")
        return Config()
    try:
        data = tomllib.loads(target.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{target} is not valid TOML: {exc}") from None
    config: Config = _build(Config, data)
    check_api(config.api)
    return config


_LOOPBACK = {"localhost", "ip6-localhost", "::1"}


def _is_loopback(host: str) -> bool:
    import ipaddress

    host = host.strip("[]").lower()
    if host in _LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_api(api: ApiConfig) -> None:
    """``api.tcp`` off loopback only with mutual TLS: the API takes reference photos and starts sessions."""
    tls = {"api.tls_cert": api.tls_cert, "api.tls_key": api.tls_key, "api.tls_client_ca": api.tls_client_ca}
    missing = [k for k, v in tls.items() if not v]
    if len(missing) not in (0, len(tls)):
        raise ConfigError(f"{', '.join(missing)}: needed with the other api.tls_* keys (mutual TLS needs all three)")
    if not api.tcp:
        if not missing:
            raise ConfigError("api.tls_cert: set, but api.tcp is empty (TLS applies to api.tcp only)")
        return
    host, sep, port = api.tcp.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise ConfigError(f"api.tcp: expected HOST:PORT (e.g. 127.0.0.1:7070), got {api.tcp!r}")
    if missing and not _is_loopback(host):
        raise ConfigError(f"api.tcp: {api.tcp!r} is not a loopback address; the terminal API carries reference "
                          "photos, so any other address needs mutual TLS: set api.tls_cert, api.tls_key and "
                          "api.tls_client_ca (or use 127.0.0.1)")


def show(config: Config) -> str:
    return json.dumps(config.as_dict(), indent=2)
