"""A real headless Chromium driven through chromedriver's W3C WebDriver HTTP API (stdlib only, no selenium).

`Browser` starts /usr/bin/chromedriver on a free loopback port and opens one headless session with a fresh
profile; tests skip with a reason when Debian's `chromium` / `chromium-driver` are not installed.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from support.broker import free_port

CHROMIUM = os.environ.get("EDGEPOSE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("EDGEPOSE_CHROMEDRIVER", "/usr/bin/chromedriver")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--force-device-scale-factor=1", "--window-size=900,800"]


def require_browser() -> None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            pytest.skip(f"{path} missing (apt-get install chromium chromium-driver)")


class Browser:
    def __init__(self) -> None:
        require_browser()
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="edgepose-chromium-")
        self.proc = subprocess.Popen([CHROMEDRIVER, f"--port={self.port}"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                self._call("GET", "/status")
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.proc.kill()
                    raise RuntimeError("chromedriver did not start") from None
                time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": CHROMIUM, "args": [*ARGS, f"--user-data-dir={self.profile}"]}}}}
        self.session = self._call("POST", "/session", caps, timeout=90)["sessionId"]

    def _call(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read())["value"]
        except urllib.error.HTTPError as e:
            raise AssertionError(f"WebDriver {method} {path}: {e.read()[:500]!r}") from None

    def get(self, url: str) -> None:
        """Navigate to `url` (returns when the document has loaded; an MJPEG image keeps loading)."""
        self._call("POST", f"/session/{self.session}/timeouts", {"pageLoad": 20000, "script": 20000})
        try:
            self._call("POST", f"/session/{self.session}/url", {"url": url})
        except AssertionError as e:
            if "timeout" not in str(e):  # the page is there; only the endless stream kept "loading"
                raise

    def js(self, script: str, *args: Any) -> Any:
        """Run `script` (a function body; `arguments` holds `args`) and return its value."""
        return self._call("POST", f"/session/{self.session}/execute/sync", {"script": script, "args": list(args)})

    def js_async(self, script: str, *args: Any) -> Any:
        """Run `script`; it must call `arguments[arguments.length - 1](value)`."""
        return self._call("POST", f"/session/{self.session}/execute/async",
                          {"script": script, "args": list(args)})

    def screenshot_png(self) -> bytes:
        return base64.b64decode(self._call("GET", f"/session/{self.session}/screenshot"))

    def wait(self, script: str, timeout: float = 20.0) -> Any:
        """Poll `script` until it returns a truthy value; that value (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(script)
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for: {script}")

    def close(self) -> None:
        try:
            self._call("DELETE", f"/session/{self.session}", timeout=20)
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        shutil.rmtree(self.profile, ignore_errors=True)
