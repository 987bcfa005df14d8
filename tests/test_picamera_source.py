"""The Pi camera source, right by construction without a Pi: picamera2 is replaced by a recording fake that
checks what a real Picamera2 is asked for (size, format, frame rate through FrameDurationLimits)."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from edge_agent.camera.identity import PAIRING_FILE, CameraIdentity, save_paired
from edge_agent.camera.source import CameraError, PiCameraSource, open_source
from edge_agent.config import CameraConfig, Config
from edge_agent.device import DeviceState
from edge_agent.provision import selftest


class FakePicamera2:
    """Records the configuration; frames are B, G, R in memory as picamera2's "RGB888" is."""

    configured: ClassVar[list[dict[str, Any]]] = []

    @staticmethod
    def global_camera_info() -> list[dict[str, Any]]:
        """As picamera2 lists the connected cameras, before one is opened."""
        return [{"Model": "imx708", "Location": 2, "Rotation": 180, "Id": "/base/soc/i2c0mux/i2c@1/imx708@1a",
                 "Num": 0}]

    def __init__(self) -> None:
        self.camera_properties = {"Model": "imx708", "PixelArraySize": (4608, 2592)}
        self.size = (0, 0)

    def create_video_configuration(self, main: dict[str, Any] | None = None,
                                   controls: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"main": dict(main or {}), "controls": dict(controls or {})}

    def configure(self, config: dict[str, Any]) -> None:
        FakePicamera2.configured.append(config)
        self.size = config["main"]["size"]

    def start(self) -> None:
        pass

    def capture_array(self, stream: str) -> np.ndarray:
        w, h = self.size
        bgr = np.zeros((h, w, 3), np.uint8)
        bgr[..., 0] = 200  # blue
        return bgr

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def fake_picamera2(monkeypatch: pytest.MonkeyPatch) -> type[FakePicamera2]:
    FakePicamera2.configured = []
    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=FakePicamera2))
    return FakePicamera2


@pytest.mark.parametrize(("fps", "frame_us"), [(15.0, 66_667), (30.0, 33_333)])
def test_frame_rate_size_and_format_reach_picamera2(fake_picamera2: type[FakePicamera2], fps: float,
                                                    frame_us: int) -> None:
    source = open_source("picamera", width=640, height=480, fps=fps)
    frame, _ = next(source.frames())
    source.close()
    (config,) = fake_picamera2.configured
    assert config["main"] == {"size": (640, 480), "format": "RGB888"}
    assert config["controls"]["FrameDurationLimits"] == (frame_us, frame_us)
    assert frame.shape == (480, 640, 3) and frame[0, 0].tolist() == [0, 0, 200]  # flipped to R, G, B
    assert isinstance(source, PiCameraSource) and source.model == "imx708"


def test_selftest_names_the_board_and_the_camera(fake_picamera2: type[FakePicamera2], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("edge_agent.target.board_model", lambda *_: "Raspberry Pi 5 Model B Rev 1.0")
    config = Config(camera=CameraConfig(source="picamera", width=640, height=480, fps=30.0))
    with pytest.raises(CameraError, match="never paired"):  # selftest reports it as FAIL: pair the camera first
        selftest._camera(config, DeviceState(tmp_path))
    info = FakePicamera2.global_camera_info()[0]
    save_paired(tmp_path / PAIRING_FILE, CameraIdentity("picamera", "libcamera", info["Model"], info["Id"]))
    status, detail, data = selftest._camera(config, DeviceState(tmp_path))
    assert status == selftest.PASS
    assert detail.startswith("Raspberry Pi 5 Model B Rev 1.0, Pi camera imx708: 10 frames of 640x480")
    assert (data["board"], data["camera"]) == ("Raspberry Pi 5 Model B Rev 1.0", "Pi camera imx708")


def test_selftest_skips_the_pi_camera_off_a_pi(fake_picamera2: type[FakePicamera2], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("edge_agent.target.board_model", lambda *_: None)
    status, detail, _ = selftest._camera(Config(), DeviceState(tmp_path))
    assert status == selftest.SKIP and "not a Raspberry Pi" in detail
    assert fake_picamera2.configured == []  # not even opened


def test_provisioning_pairs_the_camera_only_when_none_is_paired(fake_picamera2: type[FakePicamera2],
                                                                 tmp_path: Path) -> None:
    from edge_agent.camera.identity import load_paired
    from edge_agent.camera.pairing import pair_if_unpaired

    out = pair_if_unpaired(tmp_path, "picamera")
    info = FakePicamera2.global_camera_info()[0]
    paired = CameraIdentity("picamera", "libcamera", info["Model"], info["Id"])
    assert out["result"] == "paired" and load_paired(tmp_path / PAIRING_FILE) == paired
    # A camera already paired is never replaced by provisioning (only `edge-agent camera pair` does that).
    other = CameraIdentity("v4l2", "uvcvideo", "Webcam", "usb-1")
    save_paired(tmp_path / PAIRING_FILE, other)
    assert pair_if_unpaired(tmp_path, "picamera")["result"] == "already_paired"
    assert load_paired(tmp_path / PAIRING_FILE) == other


def test_provisioning_leaves_a_missing_camera_unpaired_with_its_reason(tmp_path: Path) -> None:
    from edge_agent.camera.pairing import pair_if_unpaired

    out = pair_if_unpaired(tmp_path, "/dev/video97")
    assert (out["result"], out["code"]) == ("not_paired", "camera_error") and "/dev/video97" in out["error"]
    assert not (tmp_path / PAIRING_FILE).exists()
