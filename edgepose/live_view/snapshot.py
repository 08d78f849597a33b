"""Enter-event snapshots: the frame with its skeletons as a JPEG, encoded off the pose loop, then published.

Off by default (`[snapshot] enabled = false`): a picture of the room goes to the broker (and to whoever may
read `<prefix>/<id>/snapshot`), retained, until the next enter replaces it (docs/live_view.md, "Privacy").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

import numpy as np

from edgepose.config import SnapshotConfig
from edgepose.live_view.overlay import ZoneLike, render_jpeg
from edgepose.pose import Pose

log = logging.getLogger(__name__)


class SnapshotWorker:
    """One thread that turns the latest submitted enter frame into a JPEG and passes it to `publish`.

    `submit` only stores references and wakes the thread; if several enters come faster than the encoding,
    the newest wins (a snapshot is "who came in last").
    """

    def __init__(self, cfg: SnapshotConfig, publish: Callable[[bytes], None]) -> None:
        self.cfg = cfg
        self._publish = publish
        self._pending: tuple[np.ndarray, Sequence[Pose], Sequence[tuple[Pose, str]], Sequence[ZoneLike]] | None
        self._pending = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.published = 0
        self._thread = threading.Thread(target=self._loop, name="edgepose-snapshot", daemon=True)
        self._thread.start()

    def submit(self, frame_rgb: np.ndarray, accepted: Sequence[Pose], rejected: Sequence[tuple[Pose, str]] = (),
               zones: Sequence[ZoneLike] = ()) -> None:
        with self._lock:
            self._pending = (frame_rgb, accepted, rejected, zones)
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait(0.5)
            self._wake.clear()
            with self._lock:
                job, self._pending = self._pending, None
            if job is not None:
                try:
                    frame, accepted, rejected, zones = job
                    jpeg = render_jpeg(frame, accepted, rejected=rejected, zones=zones, width=self.cfg.width,
                                       quality=self.cfg.quality)
                    self._publish(jpeg)
                    self.published += 1
                except Exception:  # the daemon goes on without this snapshot
                    log.exception("snapshot failed")
            elif self._stop.is_set():
                return

    def close(self, timeout: float = 2.0) -> None:
        """Finish the pending snapshot (if any) and stop."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
