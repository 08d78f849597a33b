"""Home Assistant discovery payloads."""

from __future__ import annotations

import json
import re

import pytest

from edgepose import __version__
from edgepose.mqtt.contract import Topics
from edgepose.mqtt.discovery import discovery_message, discovery_payload, ha_status_topic

# Home Assistant core's discovery topic regex (homeassistant/components/mqtt/discovery.py).
HA_TOPIC = re.compile(r"^homeassistant/(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?"
                      r"(?P<object_id>[a-zA-Z0-9_-]+)/config$")


def _walk_keys(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from _walk_keys(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk_keys(v)


def test_device_discovery_payload() -> None:
    topics = Topics("edgepose", "living-room_1")
    topic, raw = discovery_message(topics, "homeassistant")
    m = HA_TOPIC.match(topic)
    assert m and m["component"] == "device" and m["object_id"] == "edgepose_living-room_1"
    p = json.loads(raw)
    # No placeholder home page (issue 12): the origin block has no url until the project has a public one.
    assert p["o"] == {"name": "edgepose", "sw": __version__}
    assert ".invalid" not in raw.decode()
    assert p["dev"]["ids"] == ["edgepose_living-room_1"] and p["dev"]["sw"] == __version__
    assert p["availability"] == [{"topic": topics.status, "payload_available": "online",
                                  "payload_not_available": "offline"}]
    cmps = p["cmps"]
    assert "object_id" not in set(_walk_keys(p))
    uids = [c["unique_id"] for c in cmps.values()]
    assert len(uids) == len(set(uids))
    for c in cmps.values():
        assert c["default_entity_id"] == f"{c['p']}.{c['unique_id']}"
    occ = cmps["occupancy"]
    assert occ["p"] == "binary_sensor" and occ["device_class"] == "occupancy"
    assert occ["state_topic"] == topics.presence and "value_json.present" in occ["value_template"]
    diag = [c for c in cmps.values() if c.get("entity_category") == "diagnostic"]
    assert {c["state_topic"] for c in diag} == {topics.stats}
    assert {c.get("device_class") for c in diag} >= {"temperature", "duration"}


def test_temperature_sensor_optional() -> None:
    p = discovery_payload(Topics("edgepose", "d"), temperature=False)
    assert "soc_temperature" not in p["cmps"]


def test_ha_status_topic() -> None:
    assert ha_status_topic("homeassistant") == "homeassistant/status"


def test_value_templates_render_on_real_payloads() -> None:
    """Render the templates the way Home Assistant does (Jinja, `value_json` = parsed payload)."""
    jinja2 = pytest.importorskip("jinja2")
    from edgepose.mqtt import contract
    from edgepose.mqtt.contract import PresenceState

    env = jinja2.Environment()
    env.globals["none"] = None
    cmps = discovery_payload(Topics("edgepose", "d"))["cmps"]

    def render(component: str, payload: bytes) -> str:
        return env.from_string(cmps[component]["value_template"]).render(value_json=json.loads(payload))

    assert render("occupancy", contract.presence_payload(PresenceState(True, 2, 1.0))) == "ON"
    assert render("occupancy", contract.presence_payload(PresenceState(False, 0, None))) == "OFF"
    assert render("people", contract.presence_payload(PresenceState(True, 2, 1.0))) == "2"
    stats = contract.stats_payload({"processed_fps": 29.5, "stage_ms": {"total": 21.25}, "soc_temp_c": 61.2})
    assert (render("fps", stats), render("inference", stats), render("soc_temperature", stats)) == (
        "29.5", "21.25", "61.2")
    empty = contract.stats_payload({"stage_ms": {}})
    assert render("inference", empty) == "None" and render("soc_temperature", empty) == "None"


def test_snapshot_camera_only_when_enabled() -> None:
    topics = Topics("edgepose", "d")
    assert "snapshot" not in discovery_payload(topics)["cmps"]
    cam = discovery_payload(topics, snapshot=True)["cmps"]["snapshot"]
    assert cam["p"] == "camera" and cam["topic"] == "edgepose/d/snapshot" == topics.snapshot


def test_package_metadata_has_no_placeholder_url() -> None:
    import tomllib

    from support.paths import REPO

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert all(".invalid" not in url for url in project.get("urls", {}).values()), project.get("urls")
