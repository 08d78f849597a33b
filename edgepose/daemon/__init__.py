"""The edgepose daemon: capture, pose loop, presence and publishing."""
