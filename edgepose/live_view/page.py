"""The live view page: one HTML document with its CSS and JS inline (no external assets: it works offline)."""

from __future__ import annotations

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edgepose live view</title>
<style>
  body { margin: 0; background: #111; color: #ddd; font: 14px system-ui, sans-serif; }
  header { display: flex; gap: 1.5em; align-items: baseline; padding: 6px 10px; background: #222; }
  header h1 { font-size: 15px; margin: 0; color: #fff; }
  #status b { color: #fff; }
  #view { display: block; margin: 8px auto; max-width: 100%; height: auto; }
  .legend span { display: inline-block; width: .9em; height: .9em; vertical-align: -1px; margin: 0 .3em 0 .8em; }
  #lost { color: #f66; }
</style>
</head>
<body>
<header>
  <h1>edgepose live view</h1>
  <div id="status">waiting for frames…</div>
  <div class="legend"><span style="background:#00ff00"></span>pose<span style="background:#ff3030"></span>rejected
    <span style="background:#00a0ff"></span>include zone<span style="background:#ff00ff"></span>mask</div>
  <div id="lost"></div>
</header>
<img id="view" src="stream.mjpg" alt="camera frames with the detected skeletons">
<script>
"use strict";
const view = document.getElementById("view");
const status = document.getElementById("status");
const lost = document.getElementById("lost");
let frames = 0;
async function poll() {
  try {
    const r = await fetch("state.json", {cache: "no-store", credentials: "same-origin"});
    if (!r.ok) throw new Error("HTTP " + r.status);
    const s = await r.json();
    frames = s.frames;
    document.body.dataset.frames = s.frames;
    status.innerHTML = "<b>" + s.fps.toFixed(1) + "</b> fps · " +
      (s.present ? "<b>present</b> (" + s.count + ")" : "absent") + " · " + s.width + "×" + s.height +
      " · frame " + s.frames;
    lost.textContent = "";
  } catch (e) {
    lost.textContent = "daemon unreachable (" + e.message + ")";
  }
}
view.addEventListener("error", () => {
  lost.textContent = "stream lost, retrying…";
  setTimeout(() => { view.src = "stream.mjpg?t=" + Date.now(); }, 2000);
});
poll();
setInterval(poll, 1000);
</script>
</body>
</html>
"""
