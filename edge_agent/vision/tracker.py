"""Track, don't detect: the next frame's face region from this frame's mesh, the detector only now and then.

MediaPipe's own face-mesh graph runs the detector only when it has no face
to follow: each frame's landmarks give the next frame's region of interest.
The liveness loop does the same. The detector (BlazeFace) runs

* at the start, and whenever the tracker holds no face;
* when the mesh's face score (its presence output) drops below
  ``MIN_PRESENCE``: the face moved out of the region or left, and the same
  frame is detected again, so a lost face costs no frame;
* every ``DETECT_EVERY`` frames (P), whatever the mesh says: the only way to
  see a face that was not there before;
* on every frame while the caller has a possible second face to confirm
  (``detect_next``): the session's rival rule (liveness/rivals.py) needs
  ``persist`` (3) sightings among ``window`` (5) runs, which then take at
  most 5 consecutive frames, not 5 periods.

Why P = 5: the multiple-faces rule must still see a second face that
enters. A face that stays in view is in the detector's list at the latest
P - 1 frames after it appears, since P consecutive frames always include a
detection frame; the rival rule then has the detector run on every frame
until it has 3 sightings among its last 5 runs. So a persistent second face
is reported within P + 4 = 9 frames of entering: 0.36 s at a camera's 25
frames/s, 1.1 s at a Pi 4's 8.3 frames/s, inside a challenge step (a blink or turn takes
about a second). P is PAD's own period at 25 frames/s (``pad_every_ms`` =
200). The detector was a tenth of a frame's CPU on every frame; at P = 5 it
is a fiftieth (bench/liveness.py --profile).

The tracked region is built as a ``Detection`` of the same geometry as
BlazeFace's (box from the mesh's extent, scaled as the detector's box
relates to it: 1.098 x its width, 0.953 x its height, centre 0.055 of the
height lower, fitted on 488 frames of the real clips: residual 2-5 %), and
keypoints from the mesh's eye contours, nose tip, mouth and ears, so the
mesh sees the same framing either way and PAD's crop (a scale of the box)
covers what it covered.

Detection frames give the detector's raw list (``Located.faces``); tracked
frames give None. Which faces count as rivals is the caller's rule, applied
to each list the detector gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_agent.vision.detector import Detection, FaceDetector
from edge_agent.vision.landmarks import FaceLandmarker, FaceMesh

__all__ = ["DETECT_EVERY", "MIN_PRESENCE", "FaceTracker", "Located", "region_from_mesh"]

DETECT_EVERY = 5
MIN_PRESENCE = 0.5  # MediaPipe's min_tracking_confidence default; live faces score 1.0 (real clips, min 0.99999)

# Mesh indices of the detector's keypoints: eye contours (image-left eye first), nose tip, mouth centre, ears.
_EYE_IMAGE_LEFT = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
_EYE_IMAGE_RIGHT = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
_NOSE_TIP, _MOUTH, _EAR_IMAGE_LEFT, _EAR_IMAGE_RIGHT = 1, 13, 234, 454
# BlazeFace's box against the mesh's axis-aligned extent (real clips, 488 frames: mean; std 0.05, 0.03, 0.02).
_BOX_WIDTH, _BOX_HEIGHT, _BOX_DROP = 1.098, 0.953, 0.055


def region_from_mesh(points: np.ndarray, score: float = 1.0) -> Detection:
    """The detection BlazeFace would most likely give for this mesh's face (box and its 6 keypoints)."""
    xy = points[:, :2]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    w, h = float(hi[0] - lo[0]), float(hi[1] - lo[1])
    cx, cy = float(lo[0] + hi[0]) / 2, float(lo[1] + hi[1]) / 2 + _BOX_DROP * h
    bw, bh = _BOX_WIDTH * w / 2, _BOX_HEIGHT * h / 2
    box = np.array([cx - bw, cy - bh, cx + bw, cy + bh], np.float32)
    keypoints = np.stack([xy[list(_EYE_IMAGE_LEFT)].mean(axis=0), xy[list(_EYE_IMAGE_RIGHT)].mean(axis=0),
                          xy[_NOSE_TIP], xy[_MOUTH], xy[_EAR_IMAGE_LEFT], xy[_EAR_IMAGE_RIGHT]]).astype(np.float32)
    return Detection(box, score, keypoints)


@dataclass(frozen=True)
class Located:
    """One frame's face: the detector's list on a detection frame (None when tracked), the region, its mesh.

    On a detection frame ``region`` and ``mesh`` are None: the caller picks the subject among ``faces`` by its
    own rule and hands it back with ``FaceTracker.mesh_of``.
    """

    faces: list[Detection] | None
    region: Detection | None = None
    mesh: FaceMesh | None = None


class FaceTracker:
    """Follows one face from frame to frame by its mesh; not thread-safe (one per session)."""

    def __init__(self, detector: FaceDetector, landmarker: FaceLandmarker, *, every: int = DETECT_EVERY,
                 min_presence: float = MIN_PRESENCE) -> None:
        if every < 1:
            raise ValueError("the detection period must be at least 1 frame")
        self.detector = detector
        self.landmarker = landmarker
        self.every = every
        self.min_presence = min_presence
        self._region: Detection | None = None
        self._since = 0  # frames since the last detection frame
        self.detections = 0  # detection frames so far (the profile's share)
        self.frames = 0

    def locate(self, rgb: np.ndarray) -> Located:
        """This frame's face: tracked from the last mesh when one is held and no detection is due, else detected."""
        self.frames += 1
        if self._region is not None and self._since + 1 < self.every:
            mesh = self.landmarker.landmarks(rgb, self._region)
            if mesh.presence >= self.min_presence:
                self._since += 1
                self._region = self.roi_from_mesh(mesh)
                return Located(None, self._region, mesh)
        self._since = 0
        self._region = None
        self.detections += 1
        return Located(self.detector.detect(rgb))

    def detect_next(self) -> None:
        """Run the detector on the next frame whatever the period says (a possible second face to confirm)."""
        self._since = self.every

    def mesh_of(self, rgb: np.ndarray, det: Detection) -> FaceMesh:
        """The mesh of the subject the caller picked on a detection frame; the next frames follow it."""
        mesh = self.landmarker.landmarks(rgb, det)
        self._region = self.roi_from_mesh(mesh)
        return mesh

    def roi_from_mesh(self, mesh: FaceMesh) -> Detection:
        """The next frame's region from this frame's mesh (a method so the profile can time it)."""
        return region_from_mesh(mesh.points, mesh.presence)
