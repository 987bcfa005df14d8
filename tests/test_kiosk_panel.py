"""The clerk panel's states in Debian's headless Chromium: pass green, fail red, inconclusive amber, each with its
reasons in words; the agent offline (translated, Start disabled, retried until it answers); the device-health card
on screen at 800x480.

The kiosk is the real app (``build_app``: pages, guard, runner, status and health endpoints) served by uvicorn;
the agent behind it is a stand-in link that answers Health and streams one signed-result summary per session,
so each outcome can be shown on demand (what the agent decides, on real models, is test_kiosk_browser.py's and
test_local_demo.py's business). The offline state starts from the real ``AgentLink`` on a socket nobody serves.
Screenshots of pass, fail and offline at 800x480 and 1920x1080 go to $KIOSK_SCREENSHOTS when set
(``KIOSK_SCREENSHOTS=docs/kiosk`` makes docs/kiosk/operator-*.png); the page shows no photo or frame.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from kiosk_stack import browser_available, chromium, free_port

from edge_agent._proto import agent_pb2 as apb
from edge_agent.kiosk.agent_link import AgentLink
from edge_agent.kiosk.app import KioskSettings, build_app
from edge_agent.kiosk.catalog import catalog
from edge_agent.kiosk.runner import Runner

pytestmark = pytest.mark.slow

SECRET = "panel-test-secret-0123456789"
OK_RGB, BAD_RGB, WARN_RGB = "rgb(47, 191, 113)", "rgb(229, 83, 75)", "rgb(242, 178, 51)"  # kiosk.css --ok/--bad/--warn
RESULTS = {
    "pass": ("pass", "LIVENESS_LIVE", ["challenge_passed", "pad_model_ok", "parallax_ok", "face_match"]),
    "fail": ("fail", "LIVENESS_LIVE", ["challenge_passed", "pad_model_ok", "parallax_ok", "face_mismatch"]),
    "inconclusive": ("fail", "LIVENESS_INCONCLUSIVE", ["challenge_timeout", "face_match"]),
}


class PanelLink:
    """The agent as the panel sees it: Health (or no answer at all), one summary per session, GetResult acked."""

    def __init__(self) -> None:
        self.target = "stand-in"
        self.offline: AgentLink | None = None  # when set, Health is asked of this real link (nobody serves it)
        self.next = "pass"

    def health(self) -> apb.HealthResponse:
        if self.offline is not None:
            return self.offline.health()
        return apb.HealthResponse(healthy=True, device_id="dev-0123456789abcdef", model_set="2026.12.1",
                                  camera_source="picamera2", outbox_backlog=0,
                                  last_carrier_ack_unix_ms=int(time.time() * 1000))

    def verify(self, txn: str, photo: bytes, timeout: float) -> Iterator[apb.SessionEvent]:
        decision, liveness, reasons = RESULTS[self.next]
        yield apb.SessionEvent(result=apb.ResultSummary(transaction_id=txn, decision=decision, liveness=liveness,
                                                        reason_codes=reasons, counter=1, stored=True,
                                                        result_token="tok"))

    def result(self, txn: str, token: str) -> apb.ResultStatus:
        return apb.ResultStatus(transaction_id=txn, state="acked", receipt_id="rcpt-0123456789abcdef")

    def cancel(self, txn: str) -> bool:
        return False

    def preview(self, max_width: int, max_fps: int, wait_ms: int) -> Iterator[apb.PreviewFrame]:
        return iter(())


def _settings(port: int) -> KioskSettings:
    extra: dict[str, Any] = {}
    if "hosts" in KioskSettings.__dataclass_fields__:  # a kiosk that checks Host/Origin (kiosk/access.py)
        from edge_agent.kiosk import access  # type: ignore[attr-defined,unused-ignore]

        extra["hosts"] = access.allowed_hosts("127.0.0.1", port)
    return KioskSettings(speech=False, preview=False, token=SECRET, **extra)


@pytest.fixture(scope="module")
def kiosk() -> Iterator[tuple[str, PanelLink]]:
    if not browser_available():
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
        pytest.skip("chromium / chromedriver not installed")
    import uvicorn

    link, port = PanelLink(), free_port()
    app = build_app(link, _settings(port), runner=Runner(link, result_hold_s=1))  # type: ignore[arg-type]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the kiosk did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", link
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("KIOSK_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """Any image will do for the stand-in agent; a grey square, so no face goes near a screenshot."""
    path = tmp_path / "reference.png"
    cv2.imwrite(str(path), np.full((64, 64, 3), 128, np.uint8))
    return path


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def open_panel(driver: Any, base: str, lang: str = "") -> None:
    driver.get(f"{base}/login?token={SECRET}&next=/operator" + (f"%3Flang%3D{lang}" if lang else ""))
    wait_for("the panel", lambda: driver.execute_script("return document.body.dataset.ready === '1'"))


def text(driver: Any, element_id: str) -> str:
    return str(driver.execute_script("return document.getElementById(arguments[0]).textContent", element_id))


def colour(driver: Any, element_id: str) -> str:
    return str(driver.execute_script("return getComputedStyle(document.getElementById(arguments[0])).color",
                                     element_id))


def on_screen(driver: Any, element_id: str) -> bool:
    """Whether the whole element is inside the viewport as the page first shows it (no scrolling)."""
    return bool(driver.execute_script(
        "const r = document.getElementById(arguments[0]).getBoundingClientRect();"
        "return r.width > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth",
        element_id))


def run_session(driver: Any, link: PanelLink, photo: Path, result: str) -> None:
    link.next = result
    wait_for("Start enabled", lambda: driver.find_element("id", "start").is_enabled())
    driver.find_element("id", "photo").send_keys(str(photo))
    txn = str(driver.find_element("id", "txn").get_attribute("value"))
    driver.find_element("id", "start").click()
    wait_for("the outcome", lambda: text(driver, "s-txn") == txn and text(driver, "s-receipt") != "\u2013")


def reasons(driver: Any) -> list[str]:
    return list(driver.execute_script(
        "return [...document.querySelectorAll('#s-reasons li span')].map(e => e.textContent)"))


@pytest.mark.parametrize("size", [(800, 480), (1920, 1080)])
def test_an_unreachable_agent_is_shown_offline_start_disabled_and_retried(
        kiosk: tuple[str, PanelLink], shots: Path, tmp_path: Path, size: tuple[int, int]) -> None:
    base, link = kiosk
    link.offline = AgentLink(f"unix:{tmp_path / 'nobody.sock'}")
    zh = catalog("zh-CN")
    d = chromium(*size, tmp_path / "profile")
    try:
        open_panel(d, base)
        wait_for("the offline state", lambda: text(d, "health") == zh["operator.agent_offline"], 20)
        assert colour(d, "health") == BAD_RGB
        assert text(d, "health-detail").startswith(zh["operator.agent_offline_detail"])
        assert not d.find_element("id", "start").is_enabled()
        assert d.find_element("id", "start-blocked").is_displayed()
        page = d.find_element("tag name", "body").text
        assert "StatusCode" not in page and "UNAVAILABLE" not in page and "is edge-agent serve running" not in page
        assert on_screen(d, "health-card")
        d.save_screenshot(str(shots / f"operator-offline-{size[0]}x{size[1]}.png"))
        first = text(d, "health-detail")
        wait_for("a retry", lambda: text(d, "health-detail") != first, 10)  # it keeps asking: last try's time
        link.offline.close()
        link.offline = None  # the agent is back
        wait_for("the agent back", lambda: text(d, "health") == zh["operator.healthy"], 10)
        assert d.find_element("id", "start").is_enabled() and not d.find_element("id", "start-blocked").is_displayed()
    finally:
        d.quit()
        if link.offline is not None:
            link.offline.close()
            link.offline = None


@pytest.mark.parametrize(("size", "lang"), [((800, 480), "zh-CN"), ((1920, 1080), "en")])
def test_pass_fail_and_inconclusive_each_in_its_colour_with_reasons_in_words(
        kiosk: tuple[str, PanelLink], photo: Path, shots: Path, tmp_path: Path, size: tuple[int, int],
        lang: str) -> None:
    base, link = kiosk
    link.offline = None
    words = catalog(lang)
    d = chromium(*size, tmp_path / "profile")
    try:
        open_panel(d, base, "" if lang == "zh-CN" else lang)
        for result, rgb in (("fail", BAD_RGB), ("inconclusive", WARN_RGB), ("pass", OK_RGB)):
            run_session(d, link, photo, result)
            assert text(d, "state") == words[f"operator.outcome.{result}"]
            assert colour(d, "state") == rgb and colour(d, "s-decision") == rgb, result
            decision = "operator.decision.inconclusive" if result == "inconclusive" else f"operator.decision.{result}"
            assert text(d, "s-decision") == words[decision]
            assert reasons(d) == [words[f"reason.{c}"] for c in RESULTS[result][2]]
            assert RESULTS[result][2][-1] in text(d, "s-reasons")  # the code itself beside the words, for support
            assert on_screen(d, "state")
            if result != "inconclusive":
                d.save_screenshot(str(shots / f"operator-{result}-{size[0]}x{size[1]}.png"))
        assert text(d, "health") == words["operator.healthy"]
        assert on_screen(d, "health-card"), "the device-health card is off-screen"
        assert not d.find_elements("css selector", "img")
    finally:
        d.quit()


def test_the_fail_headline_is_never_the_green_finished_one(kiosk: tuple[str, PanelLink], photo: Path,
                                                           tmp_path: Path) -> None:
    base, link = kiosk
    link.offline = None
    zh = catalog("zh-CN")
    d = chromium(800, 480, tmp_path / "profile")
    try:
        open_panel(d, base)
        run_session(d, link, photo, "fail")
        assert text(d, "state") != zh["operator.state.finished"] and colour(d, "state") != OK_RGB
        assert zh["reason.face_mismatch"] in text(d, "s-reasons")
        d.find_element("id", "lang").click()
        en = catalog("en")
        wait_for("English", lambda: text(d, "state") == en["operator.outcome.fail"], 10)
        assert en["reason.face_mismatch"] in text(d, "s-reasons")
    finally:
        d.quit()
