"""Which camera the frames come from: injection defence at the capture device (CEN/TS 18099 vocabulary).

An *injection attack* bypasses the capture device: a virtual camera
(v4l2loopback, OBS, akvcam ...) or a replaced device feeds recorded or
synthetic video to the agent as if a customer stood in front of it. The
defences here work on the *capture device identity*:

* a V4L2 device whose driver or card name is a known virtual or test
  driver, or whose sysfs node hangs under ``/sys/devices/virtual`` (no bus,
  no hardware), is refused (``camera_virtual``);
* the identity (driver, card, bus info, and a USB camera's serial number
  where it has one; for a Pi camera the sensor model) is recorded when a technician pairs the camera at provisioning; a
  different camera later is refused (``camera_changed``) until a technician
  pairs it again; a camera never paired is refused (``camera_unpaired``);
* the identity's digest goes into the signed result, so the carrier can see
  which camera a decision came from.

Reading the identity is split from judging it: ``v4l2_identity`` takes the
sysfs root and the ioctl call as parameters, so the logic is tested against
a fake sysfs tree and a fake ioctl layer.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import struct
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from edge_agent.errors import CameraRefused

__all__ = ["PAIRING_FILE", "VIDIOC_QUERYCAP", "CameraIdentity", "CameraRefused", "check_identity", "load_paired",
           "save_paired", "usb_serial", "v4l2_identity"]

# _IOR('V', 0, struct v4l2_capability): driver[16], card[32], bus_info[32], version, capabilities,
# device_caps, reserved[3] = 104 bytes.
VIDIOC_QUERYCAP = 0x80685600
_CAP = struct.Struct("16s32s32sIII12s")
# Drivers that make frames up instead of reading a sensor (v4l2loopback, the kernel's test drivers,
# other virtual cameras), and card names they announce.
VIRTUAL_DRIVERS = frozenset({"v4l2loopback", "vivid", "vim2m", "vicodec", "visl", "akvcam", "vcam", "v4l2 loopback"})
VIRTUAL_CARD_WORDS = ("dummy video device", "loopback", "virtual", "obs ", "akvcam", "fake", "vivid")

PAIRING_FILE = "camera.json"  # under the state folder: the camera a technician paired

Ioctl = Callable[[int, int, bytearray], None]


@dataclass(frozen=True)
class CameraIdentity:
    """What names a capture device, compared whole against the paired record and hashed into results."""

    kind: str  # "v4l2" | "picamera"
    driver: str
    card: str
    bus_info: str
    # the USB device's serial number ("" when it has none); None only in a pairing record written before
    # serials were read, which is then compared on the other fields until a technician re-pairs
    serial: str | None = ""

    @property
    def digest(self) -> bytes:
        """SHA-256 of the identity fields: what the signed result carries (unchanged for a camera without serial)."""
        fields = asdict(self)
        if not self.serial:
            del fields["serial"]
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).digest()

    def describe(self) -> str:
        """The identity as a technician reads it in a refusal message."""
        serial = f", serial {self.serial}" if self.serial else ""
        return f"{self.kind} {self.card!r} (driver {self.driver}, bus {self.bus_info}{serial})"


def _ioctl(fd: int, request: int, buf: bytearray) -> None:
    fcntl.ioctl(fd, request, buf, True)


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace").strip()


def usb_serial(node: Path) -> str:
    """The serial number of the USB device above a video4linux node ("" when none): the nearest ancestor with an
    ``idVendor`` is the USB device (a root hub is never nearer than the camera itself)."""
    with contextlib.suppress(OSError):
        for folder in list(node.resolve().parents)[:4]:
            if (folder / "idVendor").is_file():
                return (folder / "serial").read_text(errors="replace").strip()[:128] if (
                    folder / "serial").is_file() else ""
    return ""


def v4l2_identity(device: str, *, sysfs: Path = Path("/sys/class/video4linux"), ioctl: Ioctl = _ioctl,
                  opener: Callable[[str], int] | None = None) -> tuple[CameraIdentity, bool]:
    """(identity, node is virtual) of a V4L2 device from VIDIOC_QUERYCAP and its sysfs node."""
    name = Path(device).name
    fd = (opener or (lambda p: os.open(p, os.O_RDWR | os.O_NONBLOCK)))(device)
    try:
        buf = bytearray(_CAP.size)
        try:
            ioctl(fd, VIDIOC_QUERYCAP, buf)
        except OSError as exc:
            raise CameraRefused("camera_not_v4l2", f"{device} does not answer VIDIOC_QUERYCAP: {exc}") from None
    finally:
        if opener is None:
            os.close(fd)
    driver, card, bus, *_ = _CAP.unpack(bytes(buf))
    node = sysfs / name
    virtual = False
    with contextlib.suppress(OSError):  # no sysfs node: judged by driver and card alone
        virtual = "/devices/virtual/" in str(node.resolve())
    return CameraIdentity("v4l2", _text(driver), _text(card), _text(bus), usb_serial(node)), virtual


def check_identity(found: CameraIdentity, virtual: bool, paired: CameraIdentity | None) -> None:
    """Refuse a virtual device, an unpaired camera or a camera other than the paired one."""
    card = found.card.lower()
    if virtual or found.driver.lower() in VIRTUAL_DRIVERS or any(w in card for w in VIRTUAL_CARD_WORDS):
        raise CameraRefused("camera_virtual", f"refusing a virtual or loopback camera: {found.describe()}")
    if paired is None:
        raise CameraRefused("camera_unpaired", f"camera {found.describe()} was never paired with this device: "
                            "a technician must run `edge-agent camera pair`")
    if paired.serial is None:  # paired before serials were read: the other fields decide, as they did then
        found = CameraIdentity(found.kind, found.driver, found.card, found.bus_info, None)
    if paired != found:
        raise CameraRefused("camera_changed", f"camera changed since pairing: found {found.describe()}, paired "
                            f"{paired.describe()}; a technician must re-pair it (`edge-agent camera pair`)")


def load_paired(path: Path) -> CameraIdentity | None:
    """The camera a technician paired, or None if none was; an unreadable record refuses the camera."""
    try:
        data = json.loads(path.read_text())
        serial = data.get("serial")
        return CameraIdentity(str(data["kind"]), str(data["driver"]), str(data["card"]), str(data["bus_info"]),
                              None if serial is None else str(serial))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CameraRefused("camera_pairing_unreadable",
                            f"the paired camera record {path} is unreadable: {exc}") from None


def save_paired(path: Path, identity: CameraIdentity) -> None:
    """Record ``identity`` as the paired camera, atomically, so a power cut never leaves half a record."""
    from edge_agent.atomic import atomic_write

    atomic_write(path, json.dumps(asdict(identity), indent=2).encode())
