"""The kiosk without a browser: catalogues, what the customer is told, the listen rules, the guard, the preview hub,
spoken prompts. The pages in a real browser against a real agent are in test_kiosk_browser.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import pytest
from starlette.testclient import TestClient

from edge_agent._proto import agent_pb2 as apb
from edge_agent.errors import EdgeAgentError
from edge_agent.kiosk.access import allowed_hosts, launch_path, launch_url, local_path, write_launch_file
from edge_agent.kiosk.agent_link import AgentLink
from edge_agent.kiosk.app import KioskSettings, build_app, is_loopback
from edge_agent.kiosk.catalog import CatalogError, action_key, catalog, hint_key
from edge_agent.kiosk.command import KioskListenError, check_exposure, listen_address
from edge_agent.kiosk.events import customer_event
from edge_agent.kiosk.health import health_view
from edge_agent.kiosk.idreader import FileIdReader, IdReaderError
from edge_agent.kiosk.runner import KioskBusy, Runner
from edge_agent.kiosk.speech import Speech
from edge_agent.liveness.challenge import PROMPTS
from edge_agent.service.preview import PreviewHub

STATIC = resources.files("edge_agent.kiosk").joinpath("static")
CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


class _Texts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.keys: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.keys |= {v for k, v in attrs if k == "data-i18n" and v}

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())


def test_catalogues_have_the_same_keys_and_cover_every_key_the_pages_and_code_use() -> None:
    zh, en = catalog("zh-CN"), catalog("en")
    assert set(zh) == set(en)
    assert all(CJK.search(zh[k]) for k in zh if k not in ("lang.switch",)), "a Chinese text is missing"
    assert not any(CJK.search(v) for k, v in en.items() if k != "lang.switch")
    used: set[str] = set()
    for page in ("customer.html", "operator.html"):
        parsed = _Texts()
        parsed.feed(STATIC.joinpath(page).read_text(encoding="utf-8"))
        words = [t for t in parsed.text if re.search(r"[^\W\d_]", t)]
        assert words == [], f"{page} has text outside the catalogue: {words}"
        used |= parsed.keys
    scripts = "".join(STATIC.joinpath(n).read_text(encoding="utf-8") for n in ("customer.js", "operator.js"))
    assert not CJK.search(scripts)
    used |= set(re.findall(r'"((?:customer|operator|prompt|hint|progress|result|lang)\.[a-z_.]+)"', scripts))
    used |= {action_key(a) for a in ("blink", "turn_left", "turn_right", "nod")} | {hint_key(m) for m in
                                                                                   ("look at the camera", "?")}
    missing = {k for k in used if k not in zh and not k.endswith(".")}
    assert not missing, missing
    with pytest.raises(CatalogError):
        catalog("fr")


def test_every_agent_prompt_and_hint_has_its_own_text() -> None:
    assert {action_key(a.value) for a in PROMPTS} == {"prompt.blink", "prompt.turn_left", "prompt.turn_right"}
    assert hint_key("look straight at the camera") == "hint.look_straight"
    assert hint_key("look at the camera") == "hint.no_face"
    assert hint_key("something new") == "hint.generic"


def _result(decision: str) -> apb.SessionEvent:
    return apb.SessionEvent(result=apb.ResultSummary(transaction_id="t", decision=decision, liveness="LIVENESS_LIVE",
                                                     reason_codes=["face_mismatch", "pad_spoof"], counter=7,
                                                     stored=True))


def test_the_customer_is_told_only_verified_or_not() -> None:
    assert customer_event(_result("pass"))["outcome"] == "verified"  # type: ignore[index]
    for decision in ("fail", "", "PASS", "maybe"):
        shown = customer_event(_result(decision))
        assert shown == {"type": "result", "outcome": "not_verified", "key": "result.not_verified"}
    prompt = customer_event(apb.SessionEvent(prompt=apb.Prompt(action="turn_left", message="x", step=1, steps=3,
                                                               time_limit_ms=5000)))
    assert prompt == {"type": "prompt", "action": "turn_left", "key": "prompt.turn_left", "step": 1, "steps": 3,
                      "time_limit_ms": 5000}


class FakeLink:
    """Stands in for the agent's socket in logic tests of the runner."""

    def __init__(self, events: list[apb.SessionEvent], fail: EdgeAgentError | None = None) -> None:
        self.events, self.fail, self.release = events, fail, threading.Event()
        self.target = "fake"

    def verify(self, txn: str, photo: bytes, timeout: float) -> Iterator[apb.SessionEvent]:
        self.release.wait(10)
        yield from self.events
        if self.fail:
            raise self.fail

    def preview(self, max_width: int, max_fps: int, wait_ms: int) -> Iterator[apb.PreviewFrame]:
        return iter(())


def _run(link: FakeLink) -> Runner:
    runner = Runner(link)  # type: ignore[arg-type]
    runner.start("txn-1", b"photo")
    with pytest.raises(KioskBusy):
        runner.start("txn-2", b"photo")
    link.release.set()
    assert runner._thread is not None
    runner._thread.join(10)
    return runner


def test_runner_keeps_reasons_for_the_clerk_and_only_the_outcome_for_the_customer() -> None:
    runner = _run(FakeLink([apb.SessionEvent(prompt=apb.Prompt(action="blink", step=0, steps=3)),
                            apb.SessionEvent(hint=apb.Hint(message="look at the camera")), _result("fail")]))
    shown = runner.current()
    assert (shown["type"], shown["outcome"]) == ("result", "not_verified")
    assert "face_mismatch" not in json.dumps(shown) and "LIVENESS" not in json.dumps(shown)
    status = runner.status()
    assert status["state"] == "finished" and status["decision"] == "fail"
    assert status["reason_codes"] == ["face_mismatch", "pad_spoof"]


def test_a_session_without_a_result_is_interrupted_not_verified() -> None:
    from edge_agent.errors import AgentUnavailable

    runner = _run(FakeLink([apb.SessionEvent(prompt=apb.Prompt(action="blink"))], AgentUnavailable("CANCELLED: x")))
    assert runner.current()["outcome"] == "interrupted"
    assert runner.status()["state"] == "error" and "agent_unavailable" in runner.status()["error"]
    runner = _run(FakeLink([apb.SessionEvent(prompt=apb.Prompt(action="blink"))]))  # stream ended, no result
    assert runner.current()["outcome"] == "interrupted"


def test_listen_addresses_other_than_loopback_need_tls_and_a_token(tmp_path: Path) -> None:
    assert listen_address("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert listen_address("[::1]:9000") == ("::1", 9000)
    for bad in ("8080", "host:", "h:99999", ":80"):
        with pytest.raises(KioskListenError):
            listen_address(bad)
    assert is_loopback("127.0.0.5") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("kiosk.local")
    check_exposure("127.0.0.1", None, None, "")
    with pytest.raises(KioskListenError, match=r"not a loopback address.*--tls-cert, --tls-key, a token"):
        check_exposure("0.0.0.0", None, None, "")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    with pytest.raises(KioskListenError, match="missing a token"):
        check_exposure("0.0.0.0", cert, key, "")
    check_exposure("0.0.0.0", cert, key, "t" * 32)


@pytest.mark.slow
def test_the_command_refuses_an_open_address_with_a_clear_error() -> None:
    proc = subprocess.run([sys.executable, "-m", "edge_agent.cli", "kiosk", "--listen", "0.0.0.0:8080"],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "EDGE_AGENT_KIOSK_TOKEN": ""})
    assert proc.returncode == 2
    assert "not a loopback address" in proc.stderr and "Traceback" not in proc.stderr


TOKEN = "s3cret-token-0123456789"


def _client(settings: KioskSettings | None = None, auth: bool = True, client: str = "127.0.0.1",
            **kw: object) -> TestClient:
    """A client of the kiosk app as its own browser would be: on 127.0.0.1:8080, with the secret unless ``auth``."""
    settings = settings or KioskSettings(token=TOKEN)
    app = build_app(AgentLink("unix:/nonexistent/agent.sock"), settings, **kw)  # type: ignore[arg-type]
    return TestClient(app, base_url="http://127.0.0.1:8080", client=(client, 5000),
                      headers={"Authorization": f"Bearer {settings.token}"} if auth else {})


def test_pages_and_assets_come_from_the_package_with_a_strict_policy() -> None:
    c = _client()
    for path in ("/customer", "/operator", "/static/kiosk.css", "/static/customer.js", "/i18n/en.json"):
        r = c.get(path)
        assert r.status_code == 200, path
        assert "default-src 'self'" in r.headers["content-security-policy"]
    pages = c.get("/customer").text + c.get("/operator").text + c.get("/static/kiosk.css").text
    assert not re.search(r"https?://", pages), "an external resource"
    assert c.get("/config.json").json()["lang"] == "zh-CN"
    health = c.get("/api/health").json()
    assert health["reachable"] is False and health["error"] == "agent_unavailable"


def test_the_guard_wants_a_credential_on_loopback_too_and_checks_host_origin_and_post_header() -> None:
    c = _client(auth=False)
    for method, path in (("GET", "/operator"), ("GET", "/customer"), ("GET", "/api/status"), ("GET", "/events"),
                         ("GET", "/preview.mjpg"), ("GET", "/config.json"), ("GET", "/static/customer.js")):
        assert c.request(method, path).status_code == 401, path
    for path in ("/api/start?txn=t1", "/api/cancel"):
        assert c.post(path, headers={"X-Kiosk": "1"}).status_code == 401, path
    assert c.get("/operator", headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
    assert c.get("/operator", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert c.get("/login?token=wrong-token-0123456789&next=/operator", follow_redirects=False).status_code == 401
    r = c.get(f"/login?token={TOKEN}&next=/customer", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/customer"
    cookie = r.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower() and TOKEN not in cookie
    assert c.get("/operator").status_code == 200  # the session cookie from /login
    assert c.post("/api/cancel").status_code == 403  # no X-Kiosk header
    assert c.get("/api/status", headers={"Host": "evil.example:8080"}).status_code == 421  # DNS rebinding
    assert c.get("/api/status", headers={"Host": "127.0.0.1:9999"}).status_code == 421
    assert c.get("/api/status", headers={"Host": "localhost:8080"}).status_code == 200
    r = c.post("/api/cancel", headers={"X-Kiosk": "1", "Origin": "http://evil.example"})
    assert r.status_code == 403 and r.json()["error"] == "kiosk_origin"
    assert c.post("/api/start?txn=t1", content=b"", headers={"X-Kiosk": "1", "Origin": "http://127.0.0.1:8080"}
                  ).status_code == 400  # our own page: past the guard, refused for the empty photo
    for evil in ("//evil.example/x", "/\\evil.example", "https://evil.example/", "/%0d%0aSet-Cookie:x", "evil"):
        r = c.get("/login", params={"token": TOKEN, "next": evil}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] in ("/operator", evil) and \
            r.headers["location"].startswith("/") and not r.headers["location"].startswith(("//", "/\\")), evil
    assert local_path("/customer?lang=en") == "/customer?lang=en" and local_path("//x") == "/operator"
    assert _client(KioskSettings(), auth=False).get("/login?token=").status_code == 401  # no secret: all refused
    remote = _client(client="10.1.2.3")
    r = remote.get("/preview.mjpg")
    assert r.status_code == 403 and r.json()["error"] == "kiosk_preview_local"


def test_allowed_hosts_and_the_launch_file(tmp_path: Path) -> None:
    assert allowed_hosts("127.0.0.1", 8080) == ("127.0.0.1:8080", "localhost:8080", "[::1]:8080")
    assert allowed_hosts("0.0.0.0", 443, ("Kiosk.Local",))[:2] == ("kiosk.local:443", "kiosk.local")
    url = launch_url("a b/c", "127.0.0.1:8080", tls=False)
    assert url == "http://127.0.0.1:8080/login?token=a%20b%2Fc&next=/customer"
    path = tmp_path / "run" / "launch-url"
    write_launch_file(path, url)
    assert path.read_text() == url + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert launch_path(path) == path


def test_id_reader_stand_in(tmp_path: Path) -> None:
    photo = tmp_path / "chip.jpg"
    with pytest.raises(IdReaderError):
        FileIdReader(photo).read_photo()
    photo.write_bytes(b"\xff\xd8jpeg")
    assert FileIdReader(photo).read_photo() == b"\xff\xd8jpeg"
    c = _client()
    r = c.post("/api/start?txn=t1&source=id_reader", headers={"X-Kiosk": "1"})
    assert r.status_code == 400 and "no ID reader" in r.json()["message"]


def test_health_view_sorts_problems_by_part() -> None:
    h = apb.HealthResponse(healthy=False, problems=["model_integrity: face_landmark.tflite", "not_enrolled: run "
                                                    "provision", "outbox_corrupt: x", "sender_dead: y"],
                           camera_source="picamera",
                           camera_error="no Raspberry Pi camera available", last_carrier_ack_unix_ms=1234)
    v = health_view(h)
    assert v["areas"]["models"] == ["model_integrity: face_landmark.tflite"]
    assert v["areas"]["keys"] == ["not_enrolled: run provision"]
    assert v["areas"]["outbox"] == ["outbox_corrupt: x", "sender_dead: y"]
    assert v["areas"]["camera"] == ["camera_error: no Raspberry Pi camera available"]
    assert v["last_carrier_ack_ms"] == 1234 and not v["healthy"]


def test_preview_hub_sends_downscaled_jpegs_of_the_running_session_only() -> None:
    hub = PreviewHub()
    assert list(hub.frames(wait_ms=50)) == []  # no session
    assert hub.watch() and not hub.watch()
    hub.unwatch()
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[100:300, 200:400] = (200, 40, 40)
    got: list = []

    def watch() -> None:
        got.extend(hub.frames(max_width=160, max_fps=15, wait_ms=2000))

    t = threading.Thread(target=watch)
    t.start()
    hub.start("txn-9")
    for _ in range(6):
        hub.publish(frame)
        time.sleep(0.1)
    hub.end()
    t.join(5)
    assert not t.is_alive() and got
    img = got[-1]
    assert (img.width, img.height, img.transaction_id) == (160, 120, "txn-9")
    decoded = cv2.imdecode(np.frombuffer(img.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (120, 160, 3)
    assert decoded[50, 80, 2] > 150 and decoded[5, 5].max() < 30  # the red square, downscaled (BGR)
    hub.publish(frame)  # after the session: nothing is kept
    assert hub._frame is None


@pytest.mark.skipif(shutil.which("espeak-ng") is None and not os.environ.get("CI"), reason="espeak-ng not installed")
def test_spoken_prompts_in_both_voices_are_cached_per_text() -> None:
    speech = Speech()
    zh = speech.wav("zh-CN", catalog("zh-CN")["prompt.blink"])
    en = speech.wav("en", catalog("en")["prompt.blink"])
    assert zh.startswith(b"RIFF") and en.startswith(b"RIFF") and len(zh) > 8000 and zh != en
    assert speech.wav("zh-CN", catalog("zh-CN")["prompt.blink"]) is zh
    c = _client(speech=speech)
    r = c.get("/speech/zh-CN/prompt.blink.wav")
    assert r.status_code == 200 and r.content == zh and r.headers["content-type"] == "audio/wav"
    assert c.get("/speech/en/operator.title.wav").status_code == 404  # only the customer's fixed texts
