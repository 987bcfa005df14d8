"""Configuration: typed defaults, TOML overlay, errors that name the key, ``config show``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.config import PRECISIONS, TARGET_NAMES, Config, ConfigError, explain, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_and_overlay(tmp_path: Path) -> None:
    assert Config().camera.source == "picamera" and Config().models.precision == "auto"
    cfg = load_config(write(tmp_path, '[camera]\nsource = "/dev/video0"\nfps = 30\n[carrier]\ntarget = "h:1"\n'))
    assert cfg.camera.source == "/dev/video0" and cfg.camera.fps == 30.0 and cfg.camera.width == 0
    eff = cfg.effective()
    assert eff.camera.width == 640 and eff.camera.fps == 30.0 and eff.models.threads >= 1
    assert cfg.carrier.target == "h:1" and cfg.carrier.send_similarity is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[camera]\nfps = 'fast'\n", "camera.fps: expected a number"),
        ("[camera]\nfsp = 15\n", "unknown key: camera.fsp"),
        ("[models]\nprecision = 'int4'\n",
         "models.precision: must be one of auto, dlib-float, dlib-int8, float, int8, int8-dynamic"),
        ("[models]\nthreads = -1\n", "models.threads: must be 0 \\(from the target\\) or more"),
        ("[models]\ntarget = 'pi3'\n", "models.target: must be one of auto, generic, pi4, pi5"),
        ("[carrier]\nsend_similarity = 1\n", "carrier.send_similarity: expected true or false"),
        ("camera = 3\n", "camera: expected a table"),
        ("[camera\n", "not valid TOML"),
        ("[api]\ntcp = '0.0.0.0:7070'\n", "api.tcp: '0.0.0.0:7070' is not a loopback address"),
        ("[api]\ntcp = '[::]:7070'\n", "api.tcp: .* is not a loopback address"),
        ("[api]\ntcp = '192.168.1.20:7070'\n", "needs mutual TLS: set api.tls_cert, api.tls_key"),
        ("[api]\ntcp = 'terminal.local:7070'\n", "api.tcp: 'terminal.local:7070' is not a loopback"),
        ("[api]\ntcp = '7070'\n", "api.tcp: expected HOST:PORT"),
        ("[api]\ntcp = '0.0.0.0:7070'\ntls_cert = 'c.pem'\n", "api.tls_key, api.tls_client_ca: needed"),
        ("[api]\nresult_window_s = 0\n", "api.result_window_s: must be greater than 0"),
        ("[outbox]\nretention_days = -1\n", "outbox.retention_days: must be greater than 0"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize("tcp", ["127.0.0.1:7070", "localhost:7070", "[::1]:7070", "127.0.0.2:1"])
def test_loopback_tcp_needs_no_tls(tmp_path: Path, tcp: str) -> None:
    assert load_config(write(tmp_path, f"[api]\ntcp = '{tcp}'\n")).api.tcp == tcp


def test_off_loopback_tcp_with_mutual_tls_is_accepted_and_served(tmp_path: Path) -> None:
    from edge_agent.reference_carrier.server import server_state
    from edge_agent.service.daemon import _tcp_credentials

    pki = tmp_path / "pki"
    server_state(pki, ["localhost"])  # a CA, and a server key and certificate it signed
    text = (f"[api]\ntcp = '0.0.0.0:7070'\ntls_cert = '{pki / 'server.pem'}'\n"
            f"tls_key = '{pki / 'server.key'}'\ntls_client_ca = '{pki / 'ca.pem'}'\n")
    cfg = load_config(write(tmp_path, text))
    assert cfg.api.tcp == "0.0.0.0:7070" and _tcp_credentials(cfg) is not None


@pytest.mark.slow
def test_serve_refuses_a_public_plaintext_api(tmp_path: Path) -> None:
    path = write(tmp_path, f"state_dir = '{tmp_path}'\n[api]\ntcp = '0.0.0.0:7070'\n")
    proc = subprocess.run([sys.executable, "-m", "edge_agent.cli", "serve", "--config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "api.tcp" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


@pytest.mark.slow
def test_config_show_command(tmp_path: Path) -> None:
    path = write(tmp_path, "[api]\ntcp = '127.0.0.1:7070'\n")
    proc = subprocess.run([sys.executable, "-m", "edge_agent.cli", "config", "show", "--config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    out = json.loads(proc.stdout)
    assert out["api"]["tcp"] == "127.0.0.1:7070" and out["camera"]["source"] == "picamera"
    bad = write(tmp_path, "[api]\ntcpp = 1\n")
    proc = subprocess.run([sys.executable, "-m", "edge_agent.cli", "config", "show", "--config", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown key: api.tcpp" in proc.stderr and "Traceback" not in proc.stderr


def test_targets_pick_threads_and_frame_sizes(tmp_path: Path) -> None:
    from edge_agent.target import detect_target, resolve_target

    board = tmp_path / "model"
    board.write_bytes(b"Raspberry Pi 5 Model B Rev 1.0\x00")
    assert detect_target(board).name == "pi5" and detect_target(board).frame_budget_ms == pytest.approx(33.3, 0.01)
    board.write_bytes(b"Raspberry Pi 4 Model B Rev 1.4\x00")
    assert detect_target(board) == resolve_target("pi4")
    assert detect_target(tmp_path / "absent").name == "generic"
    cfg = load_config(write(tmp_path, "[models]\ntarget = 'pi4'\nthreads = 1\n[camera]\nwidth = 1280\n")).effective()
    assert (cfg.models.threads, cfg.camera.width, cfg.camera.height, cfg.camera.fps) == (1, 1280, 480, 15.0)
    # A Pi's models run one thread each beside a pool of two workers (liveness/workers.py); without the pool
    # the interpreter takes the target's three cores as before.
    pi5 = load_config(write(tmp_path, "[models]\ntarget = 'pi5'\n")).effective().models
    assert (pi5.threads, pi5.workers) == (1, 2)
    inline = load_config(write(tmp_path, "[models]\ntarget = 'pi5'\nworkers = 0\n")).effective().models
    assert (inline.threads, inline.workers) == (3, 0)


def test_every_setting_has_help_and_explain_lists_each_key_once() -> None:
    rows = explain(Config())
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)) and all(r["help"] for r in rows), [r["key"] for r in rows if not r["help"]]
    by_key = {r["key"]: r for r in rows}
    assert by_key["carrier.deadline_s"]["bound"] == "> 0" and by_key["camera.fps"]["bound"] == ">= 0"
    assert by_key["models.precision"]["bound"] == "one of auto, " + ", ".join(PRECISIONS)
    assert by_key["liveness.seed"]["bound"] == "" and by_key["liveness.seed"]["value"] == -1


def test_the_choices_are_the_ones_the_code_knows() -> None:
    from edge_agent.target import TARGETS
    from edge_agent.vision.pipeline import EMBEDDERS

    assert set(PRECISIONS) == set(EMBEDDERS)
    assert set(TARGET_NAMES) == {"auto", "generic", *TARGETS}


def test_config_show_explain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edge_agent.cli import main

    assert main(["config", "show", "--explain", "--config", str(write(tmp_path, "[liveness]\nsteps = 4\n"))]) == 0
    out = capsys.readouterr().out
    assert "liveness.steps = 4  [> 0]\n    actions per challenge" in out
    assert 'log_format = "auto"  [one of auto, json, console]' in out
    with pytest.raises(ConfigError, match="log_format: must be one of auto, console, json; got 'xml'"):
        load_config(write(tmp_path, "log_format = 'xml'\n"))
