"""MediaPipe's legacy Python `Pose` as a reference implementation, run in its own venv (protobuf<5).

- `mediapipe_env`: find or create the reference interpreter (`python -m edgepose_dev.reference.mediapipe_env`);
- `mediapipe_runner`: the script that runs under that interpreter (imports no edgepose);
- `mediapipe_client`: `run_mediapipe()`, the project-side API (parity tests, `bench --against mediapipe`).

Nothing is imported here, so that `python -m edgepose_dev.reference.mediapipe_env` runs its module only once.
"""
