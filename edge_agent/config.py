"""Configuration: a TOML file over typed, frozen defaults; every error names its key.

``edge-agent config show [--config PATH]`` prints the effective configuration,
so a technician sees exactly what the daemon will use; ``--explain`` adds each
key's bound and help. Unknown keys are errors (a typo must not silently fall
back to a default). Each setting carries its own constraint and help text
(``setting(...)``: a ``Literal`` type for choices, ``gt``/``ge`` for bounds), so
validation, ``--explain`` and the CLI's ``choices=`` all read one place.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, cast, get_args, get_origin, get_type_hints

from edge_agent.errors import ConfigError

__all__ = ["DEFAULT_PATH", "LOG_FORMATS", "PRECISIONS", "TARGET_NAMES", "Config", "ConfigError", "LogFormat",
           "Precision", "TargetName", "check_api", "explain", "load_config", "setting"]

DEFAULT_PATH = Path(os.environ.get("EDGE_AGENT_CONFIG", "/etc/edge-agent/config.toml"))

# The choices, once: the CLI's --precision/--target and the config's validation read these.
Precision = Literal["auto", "float", "int8", "int8-dynamic", "dlib-float", "dlib-int8"]
TargetName = Literal["auto", "pi4", "pi5", "generic"]
LogFormat = Literal["auto", "json", "console"]
# The embedders themselves (the CLI's --precision); "auto" is the config's "let models.target choose".
PRECISIONS: tuple[str, ...] = tuple(p for p in get_args(Precision) if p != "auto")
TARGET_NAMES: tuple[str, ...] = get_args(TargetName)
LOG_FORMATS: tuple[str, ...] = get_args(LogFormat)


def setting(default: Any, help: str, *, gt: float | None = None, ge: float | None = None) -> Any:
    """A dataclass field with its help text and bound, read by validation and ``config show --explain``."""
    return field(default=default, metadata={"help": help, "gt": gt, "ge": ge})


@dataclass(frozen=True)
class CameraConfig:
    """``[camera]``: which camera and how it captures."""

    source: str = setting("picamera", "picamera | /dev/videoN | a clip or frame folder")
    width: int = setting(0, "capture width; 0: from models.target (640x480 at 15 or 30 frames/s)", ge=0)
    height: int = setting(0, "capture height; 0: from models.target", ge=0)
    fps: float = setting(0.0, "frames per second; 0: from models.target", ge=0)


@dataclass(frozen=True)
class ModelsConfig:
    """``[models]``: which model set, at which precision, on how many threads."""

    directory: str = setting("", "model folder; empty: an installed signed set, else this installation's models/")
    precision: Precision = setting("auto", "embedder: auto (from models.target: int8-dynamic on a Pi under "
                                   "ai-edge-litert, else float), SFace float (float16), int8-dynamic, int8, or the "
                                   "dlib port (dlib-float, dlib-int8)")
    threads: int = setting(0, "inference threads; 0: from models.target (1 each when the loop has workers)", ge=0)
    workers: int = setting(-1, "liveness worker threads beside the loop thread, for the embedder, PAD and the "
                           "eyelid model; -1: from models.target (2 on a Pi 4 or 5, none elsewhere)", ge=-1)
    target: TargetName = setting("auto", "hardware profile: auto reads the board name (edge_agent/target.py)")


@dataclass(frozen=True)
class CarrierConfig:
    """``[carrier]``: where results go."""

    target: str = setting("", "HOST:PORT of the carrier's result service; empty: the one enrolled with")
    deadline_s: float = setting(5.0, "deadline of each carrier call, seconds", gt=0)
    send_similarity: bool = setting(False, "send the raw score; off unless the carrier needs it (scores help "
                                    "attackers hill-climb)")


@dataclass(frozen=True)
class ApiConfig:
    """``[api]``: the terminal API's socket, optional TCP port and its TLS."""

    socket: str = setting("/run/edge-agent/agent.sock", "Unix socket of the terminal API")
    socket_group: str = setting("edge-terminal", "group that may open the socket (the terminals' user)")
    # The API carries reference photos: any address other than loopback needs mutual TLS (all three tls_*
    # files), or the configuration is refused.
    tcp: str = setting("", "HOST:PORT to serve on too, e.g. 127.0.0.1:7070; empty: Unix socket only; off "
                       "loopback only with api.tls_*")
    tls_cert: str = setting("", "PEM certificate the agent presents on api.tcp")
    tls_key: str = setting("", "its private key (PEM)")
    tls_client_ca: str = setting("", "PEM CA that signed the terminals' client certificates")
    result_window_s: float = setting(900.0, "GetResult answers the session's own client this long after it ends, "
                                     "seconds", gt=0)


@dataclass(frozen=True)
class OutboxSettings:
    """``[outbox]``: how long delivered results are kept."""

    # The device counter is kept apart and never goes back; pending and rejected records are never deleted.
    retention_days: float = setting(30.0, "acknowledged records are deleted this long after the carrier's "
                                    "acknowledgement, days", gt=0)


@dataclass(frozen=True)
class LivenessSettings:
    """``[liveness]``: the active challenge a customer does (the session's tuning is in liveness/session.py)."""

    steps: int = setting(3, "actions per challenge (blink, turn left, turn right, in random order)", gt=0)
    step_timeout_s: float = setting(5.0, "time for each action, seconds", gt=0)
    seed: int = setting(-1, "-1: a fresh random order per session; a fixed seed is for tests and demos only")


@dataclass(frozen=True)
class Config:
    """The whole configuration; ``effective()`` fills what the hardware target decides."""

    state_dir: str = setting("/var/lib/edge-agent", "device state: identity, keys, outbox, installed models")
    log_format: LogFormat = setting("auto", "auto (JSON under systemd, else console) | json | console")
    camera: CameraConfig = field(default_factory=CameraConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    carrier: CarrierConfig = field(default_factory=CarrierConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    liveness: LivenessSettings = field(default_factory=LivenessSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)

    def as_dict(self) -> dict[str, Any]:
        """Every key, nested by section, as ``config show`` prints it."""
        return dataclasses.asdict(self)

    def effective(self) -> Config:
        """Zero thread counts, camera sizes and an ``auto`` embedder replaced by the target's choice for this device."""
        from edge_agent.liveness.workers import workers_for
        from edge_agent.target import default_precision, resolve_target

        t = resolve_target(self.models.target)
        cam, models = self.camera, self.models
        pool = models.workers if models.workers >= 0 else workers_for(t)
        if models.precision == "auto":
            from edge_agent.errors import ModelError
            from edge_agent.vision.runtime import runtime_name

            try:
                runtime = runtime_name()
            except ModelError:
                runtime = "none"  # no runtime: float, and loading the models then says why it fails
            precision = default_precision(t, runtime)
            if precision != "float" and not _set_has_embedder(models.directory, Path(self.state_dir), precision):
                precision = "float"  # an installed model set from before int8-dynamic: keep the device working
            models = dataclasses.replace(models, precision=cast(Precision, precision))
        return dataclasses.replace(
            self,
            camera=dataclasses.replace(cam, width=cam.width or t.width, height=cam.height or t.height,
                                       fps=cam.fps or t.fps),
            # With workers, the models run one thread each and the pool takes the cores (liveness/workers.py).
            models=dataclasses.replace(models, threads=models.threads or (1 if pool else t.threads), workers=pool,
                                       target=cast(TargetName, t.name)),
        )


def _set_has_embedder(directory: str, state_dir: Path, precision: str) -> bool:
    """Whether the model set the agent will load (configured, installed or factory) has this embedder.

    ``auto`` may only pick a build that set carries: a signed set installed
    before the build existed would otherwise stop the agent at model load.
    """
    from edge_agent.errors import EdgeAgentError
    from edge_agent.modelset.install import model_directory
    from edge_agent.vision.manifest import Manifest
    from edge_agent.vision.pipeline import EMBEDDERS

    try:
        return EMBEDDERS[precision] in Manifest.load(model_directory(directory, state_dir)).data["models"]
    except (EdgeAgentError, OSError):
        return True  # an unreadable set: loading it reports what is wrong, not a silent change of embedder


def _bound(meta: Any) -> str:
    if meta.get("gt") is not None:
        return f"> {meta['gt']:g}"
    if meta.get("ge") is not None:
        return f">= {meta['ge']:g}"
    return ""


def _check(key: str, typ: Any, value: Any, meta: Any) -> Any:
    if get_origin(typ) is Literal:
        if value not in get_args(typ):
            raise ConfigError(f"{key}: must be one of {', '.join(sorted(get_args(typ)))}; got {value!r}")
        return value
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
    if meta.get("gt") is not None and value <= meta["gt"]:
        raise ConfigError(f"{key}: must be greater than {meta['gt']:g}, got {value!r}")
    if meta.get("ge") is not None and value < meta["ge"]:
        raise ConfigError(f"{key}: must be {meta['ge']:g} (from the target) or more, got {value!r}"
                          if meta["ge"] == 0 else f"{key}: must be {meta['ge']:g} or more, got {value!r}")
    return value


def _build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    names = set(fields)
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
            values[name] = _check(key, typ, data[name], fields[name].metadata)
    return cls(**values)


def load_config(path: Path | None = None) -> Config:
    """Defaults overlaid with ``path`` (when it exists; a missing default file means defaults).

    ``EDGE_AGENT_STATE``, when set, replaces ``state_dir``: the daemon, ``selftest`` and every technician
    command then find the device state in the same folder (``paths.default_state_dir``), whichever of the
    two says where it is.
    """
    target = path or DEFAULT_PATH
    if not target.exists():
        if path is not None:
            raise ConfigError(f"config file {path} does not exist")
        config = Config()
    else:
        try:
            data = tomllib.loads(target.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{target} is not valid TOML: {exc}") from None
        config = _build(Config, data)
        check_api(config.api)
    state = os.environ.get("EDGE_AGENT_STATE")
    return dataclasses.replace(config, state_dir=state) if state else config


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


def explain(config: Config) -> list[dict[str, Any]]:
    """Each key with its value, its bound or choices, and its help, in file order."""
    rows: list[dict[str, Any]] = []

    def walk(obj: Any, prefix: str) -> None:
        hints = get_type_hints(type(obj))
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, f"{prefix}{f.name}.")
                continue
            typ = hints[f.name]
            bound = ("one of " + ", ".join(get_args(typ))) if get_origin(typ) is Literal else _bound(f.metadata)
            rows.append({"key": f"{prefix}{f.name}", "value": value, "bound": bound,
                         "help": f.metadata.get("help", "")})

    walk(config, "")
    return rows


def show(config: Config) -> str:
    """The configuration as JSON."""
    return json.dumps(config.as_dict(), indent=2)
