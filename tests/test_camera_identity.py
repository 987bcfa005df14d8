"""Injection defence at the capture device: virtual cameras, pairing, changed cameras (fake sysfs and ioctl)."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from edge_agent.camera.identity import (
    VIDIOC_QUERYCAP,
    CameraIdentity,
    CameraRefused,
    check_identity,
    load_paired,
    save_paired,
    v4l2_identity,
)
from edge_agent.camera.source import CameraError, V4L2Source


def fake_ioctl(driver: str, card: str, bus: str):
    def ioctl(fd: int, request: int, buf: bytearray) -> None:
        assert request == VIDIOC_QUERYCAP and len(buf) == 104
        buf[:] = struct.pack("16s32s32sIII12s", driver.encode(), card.encode(), bus.encode(), 0, 0, 0, b"")

    return ioctl


def sysfs(tmp_path: Path, name: str, *, virtual: bool) -> Path:
    """/sys/class/video4linux/<name> as a symlink into a fake /sys/devices tree, as the kernel lays it out."""
    devices = tmp_path / "sys" / "devices"
    target = devices / ("virtual/video4linux" if virtual else "pci0000:00/0000:00:14.0/usb1/1-1/video4linux") / name
    target.mkdir(parents=True)
    cls = tmp_path / "sys" / "class" / "video4linux"
    cls.mkdir(parents=True, exist_ok=True)
    (cls / name).symlink_to(target)
    return cls


def identify(tmp_path: Path, driver: str, card: str, bus: str, *, virtual: bool) -> tuple[CameraIdentity, bool]:
    root = sysfs(tmp_path, "video0", virtual=virtual)
    return v4l2_identity("/dev/video0", sysfs=root, ioctl=fake_ioctl(driver, card, bus), opener=lambda _p: 3)


USB = ("uvcvideo", "HD Pro Webcam C920", "usb-0000:00:14.0-1")


def test_a_usb_camera_is_read_from_querycap_and_sysfs(tmp_path: Path) -> None:
    found, virtual = identify(tmp_path, *USB, virtual=False)
    assert found == CameraIdentity("v4l2", *USB) and virtual is False
    check_identity(found, virtual, found)  # paired with itself: accepted


@pytest.mark.parametrize(("driver", "card", "virtual"), [
    ("v4l2 loopback", "Dummy video device (0x0000)", True),  # v4l2loopback's own names
    ("v4l2loopback", "OBS Virtual Camera", True),
    ("uvcvideo", "Dummy video device (0x0000)", False),  # a card name alone is enough
    ("vivid", "vivid", True),
    ("uvcvideo", "HD Pro Webcam C920", True),  # a real-looking name on a node with no bus behind it
])
def test_virtual_and_loopback_devices_are_refused(tmp_path: Path, driver: str, card: str, virtual: bool) -> None:
    found, is_virtual = identify(tmp_path, driver, card, "platform:v4l2loopback-000", virtual=virtual)
    with pytest.raises(CameraRefused) as exc:
        check_identity(found, is_virtual, found)
    assert exc.value.code == "camera_virtual"


def test_unpaired_and_changed_cameras_are_refused(tmp_path: Path) -> None:
    found, virtual = identify(tmp_path, *USB, virtual=False)
    with pytest.raises(CameraRefused) as exc:
        check_identity(found, virtual, None)
    assert exc.value.code == "camera_unpaired"
    record = tmp_path / "camera.json"
    save_paired(record, CameraIdentity("v4l2", "uvcvideo", "HD Pro Webcam C920", "usb-0000:00:14.0-2"))
    with pytest.raises(CameraRefused) as exc:  # the same model on another port is another camera
        check_identity(found, virtual, load_paired(record))
    assert exc.value.code == "camera_changed"
    save_paired(record, found)  # a technician re-pairs
    check_identity(found, virtual, load_paired(record))


def test_pairing_record_damage_is_a_specific_error(tmp_path: Path) -> None:
    assert load_paired(tmp_path / "absent.json") is None
    bad = tmp_path / "camera.json"
    bad.write_text(json.dumps({"kind": "v4l2"}))
    with pytest.raises(CameraRefused) as exc:
        load_paired(bad)
    assert exc.value.code == "camera_pairing_unreadable"


def test_identity_digest_differs_per_camera() -> None:
    a = CameraIdentity("v4l2", *USB)
    assert a.digest == CameraIdentity("v4l2", *USB).digest
    assert a.digest != CameraIdentity("v4l2", "uvcvideo", "HD Pro Webcam C920", "usb-x").digest


def usb_sysfs(tmp_path: Path, serial: str | None) -> Path:
    """The kernel's layout for a UVC camera: video0 under the USB interface under the USB device (idVendor, serial)."""
    usb = tmp_path / "sys" / "devices" / "pci0000:00" / "0000:00:14.0" / "usb1"
    (usb / "idVendor").parent.mkdir(parents=True, exist_ok=True)
    (usb / "idVendor").write_text("1d6b\n")  # the root hub: never taken for the camera
    (usb / "serial").write_text("0000:00:14.0\n")
    device = usb / "1-1"
    target = device / "1-1:1.0" / "video4linux" / "video0"
    target.mkdir(parents=True)
    (device / "idVendor").write_text("046d\n")
    if serial is not None:
        (device / "serial").write_text(serial + "\n")
    cls = tmp_path / "sys" / "class" / "video4linux"
    cls.mkdir(parents=True, exist_ok=True)
    (cls / "video0").symlink_to(target)
    return cls


def test_the_usb_serial_number_is_part_of_the_identity_and_its_digest(tmp_path: Path) -> None:
    def read(serial: str | None) -> CameraIdentity:
        shutil.rmtree(tmp_path / "sys", ignore_errors=True)
        root = usb_sysfs(tmp_path, serial)
        return v4l2_identity("/dev/video0", sysfs=root, ioctl=fake_ioctl(*USB), opener=lambda _p: 3)[0]

    paired, impostor, no_serial = read("A1B2C3D4"), read("FFFF0000"), read(None)
    assert paired.serial == "A1B2C3D4" and no_serial.serial == ""
    # a camera announcing the paired webcam's name on the same port: another digest, refused
    assert paired.digest != impostor.digest
    with pytest.raises(CameraRefused) as exc:
        check_identity(impostor, False, paired)
    assert exc.value.code == "camera_changed" and "FFFF0000" in str(exc.value)
    assert no_serial.digest == CameraIdentity("v4l2", *USB).digest  # no serial: the digest results always had
    record = tmp_path / "camera.json"
    save_paired(record, paired)
    assert load_paired(record) == paired
    legacy = {k: v for k, v in json.loads(record.read_text()).items() if k != "serial"}
    record.write_text(json.dumps(legacy))  # paired before serials were read: still accepted until re-paired
    check_identity(paired, False, load_paired(record))


def test_a_device_that_is_not_v4l2_is_refused(tmp_path: Path) -> None:
    def broken(fd: int, request: int, buf: bytearray) -> None:
        raise OSError(25, "Inappropriate ioctl for device")

    with pytest.raises(CameraRefused) as exc:
        v4l2_identity("/dev/video0", sysfs=tmp_path, ioctl=broken, opener=lambda _p: 3)
    assert exc.value.code == "camera_not_v4l2"


def test_the_real_source_refuses_a_non_camera_before_any_frame(tmp_path: Path) -> None:
    """A regular file named like a camera: the real ioctl refuses it with a reason, no frame is read."""
    fake = tmp_path / "video7"
    fake.write_bytes(b"\0" * 64)
    with pytest.raises(CameraError, match="VIDIOC_QUERYCAP"):
        next(V4L2Source(str(fake)).frames())
