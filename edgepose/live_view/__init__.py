"""The live view (an HTTP page with the camera's frames and the skeletons) and the enter-event snapshots.

`overlay` draws poses, rejected poses, zones and a status line on a frame; `server.LiveView` serves them as
MJPEG to a browser, encoding only while somebody watches; `snapshot.SnapshotWorker` encodes the picture of an
enter event off the pose loop and hands it to the MQTT publisher.
"""

from edgepose.live_view.overlay import ZoneLike, render_jpeg
from edgepose.live_view.server import LiveView, LiveViewError

__all__ = ["LiveView", "LiveViewError", "ZoneLike", "render_jpeg"]
