"""The clerk panel's words for a finished session: every reason code the agent can sign has a Chinese and an
English text, and each result is read as pass, fail or inconclusive (edge_agent/kiosk/outcome.py).

The reason codes are collected from the code that writes them (the liveness session, the challenge's failures,
the recorder's match, and the photo checks that the demo signs as a reason), so a new code without a text
fails here rather than reaching a clerk as a raw English word.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge_agent._proto import agent_pb2 as apb
from edge_agent.errors import BadInput
from edge_agent.kiosk.catalog import LANGUAGES, catalog
from edge_agent.kiosk.outcome import outcome, reason_key
from edge_agent.kiosk.runner import Runner

ROOT = Path(__file__).resolve().parents[1] / "edge_agent"
CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")
# the photo checks (read_image, FacePipeline.analyse) whose codes a signed FAIL can carry (edge-agent demo)
PHOTO_CHECKS = ("ImageUnreadable", "ImageTooLarge", "ImageFormatUnsupported", "NoFace", "MultipleFaces",
                "FaceTooSmall", "FaceTooBlurry", "Pose")


def agent_reason_codes() -> set[str]:
    """Every reason code the agent writes into a signed result, read from the code that writes it."""
    session = (ROOT / "liveness" / "session.py").read_text()
    challenge = (ROOT / "liveness" / "challenge.py").read_text()
    recorder = (ROOT / "recorder.py").read_text()
    codes = set(re.findall(r'reasons\.append\("([a-z_]+)"\)', session))
    assert 'reasons.append(f"challenge_{ch.reason or \'incomplete\'}")' in session  # the prefix rule below
    codes |= {f"challenge_{r}" for r in re.findall(r'_fail\("([a-z_]+)"', challenge)} | {"challenge_incomplete"}
    codes |= set(re.findall(r'"(face_match|face_mismatch)"', recorder))
    import edge_agent.errors as errors

    codes |= {BadInput.code} | {getattr(errors, name).code for name in PHOTO_CHECKS}
    return codes


def test_the_collected_codes_include_the_known_ones() -> None:
    """The collector itself must see the codes: an empty or partial scan would pass the test below vacuously."""
    codes = agent_reason_codes()
    assert {"challenge_passed", "pad_model_ok", "pad_model_spoof", "pad_unavailable", "parallax_ok",
            "planar_motion", "no_template", "challenge_timeout", "challenge_face_lost", "challenge_wrong_action",
            "challenge_identity_changed", "challenge_multiple_faces", "challenge_incomplete", "face_match",
            "face_mismatch", "no_face", "multiple_faces", "face_too_small", "face_too_blurry"} <= codes


def test_every_reason_code_has_a_chinese_and_an_english_text() -> None:
    missing = {(lang, code) for lang in LANGUAGES for code in agent_reason_codes()
               if not catalog(lang).get(reason_key(code), "").strip()}
    assert not missing, sorted(missing)
    zh, en = catalog("zh-CN"), catalog("en")
    for code in agent_reason_codes():
        assert CJK.search(zh[reason_key(code)]), code
        assert not CJK.search(en[reason_key(code)]) and code not in en[reason_key(code)], code  # words, not codes


@pytest.mark.parametrize(("decision", "liveness", "reasons", "expected"), [
    ("pass", "LIVENESS_LIVE", ["challenge_passed", "pad_model_ok", "parallax_ok", "face_match"], "pass"),
    ("fail", "LIVENESS_LIVE", ["challenge_passed", "pad_model_ok", "parallax_ok", "face_mismatch"], "fail"),
    ("fail", "LIVENESS_SPOOF", ["challenge_passed", "pad_model_ok", "planar_motion", "face_match"], "fail"),
    ("fail", "LIVENESS_SPOOF", ["challenge_wrong_action", "face_match"], "fail"),
    ("fail", "LIVENESS_INCONCLUSIVE", ["challenge_timeout", "face_match"], "inconclusive"),
    ("fail", "LIVENESS_INCONCLUSIVE", ["challenge_incomplete"], "inconclusive"),
    ("fail", "LIVENESS_INCONCLUSIVE", ["challenge_timeout", "face_mismatch"], "fail"),  # a stranger is a fail
    ("fail", "LIVENESS_NOT_RUN", ["no_face"], "inconclusive"),
])
def test_outcome_for_the_clerk(decision: str, liveness: str, reasons: list[str], expected: str) -> None:
    assert outcome(decision, liveness, reasons) == expected


class _OneResult:
    target = "fake"

    def __init__(self, result: apb.ResultSummary) -> None:
        self.summary = result

    def verify(self, txn: str, photo: bytes, timeout: float):  # type: ignore[no-untyped-def]
        yield apb.SessionEvent(result=self.summary)

    def preview(self, max_width: int, max_fps: int, wait_ms: int):  # type: ignore[no-untyped-def]
        return iter(())


def test_the_runner_gives_the_panel_the_outcome_and_the_liveness() -> None:
    summary = apb.ResultSummary(transaction_id="t", decision="fail", liveness="LIVENESS_INCONCLUSIVE",
                                 reason_codes=["challenge_timeout"])
    runner = Runner(_OneResult(summary))  # type: ignore[arg-type]
    runner.start("t", b"photo", preview=False)
    assert runner._thread is not None
    runner._thread.join(10)
    status = runner.status()
    assert (status["outcome"], status["liveness"], status["decision"]) == ("inconclusive", "LIVENESS_INCONCLUSIVE",
                                                                          "fail")
