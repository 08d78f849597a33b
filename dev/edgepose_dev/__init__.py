"""edgepose-dev: the development distribution of edgepose, what a device does not install.

The int8 model build (`models_build`, `edgepose models build`), MediaPipe's legacy Pose as the reference
(`reference`, `--against mediapipe`), evaluation (`commands.eval`, `edgepose eval`; `metrics`) and the demo
clip (`demo_clip`). It depends on the runtime `edgepose` and plugs into its command line through the entry
points listed in dev/pyproject.toml (edgepose.plugins describes the groups); the runtime imports nothing of it.
"""
