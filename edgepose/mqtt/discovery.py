"""Home Assistant MQTT discovery: one device-based discovery payload per edgepose device.

Published retained to `<ha_prefix>/device/edgepose_<device_id>/config` on every connect and again when Home
Assistant announces `<ha_prefix>/status` = `online`. Entities: an `occupancy` binary sensor and a person-count
sensor on the retained `presence` topic, diagnostic sensors (fps, inference ms, SoC temperature) on the
`stats` topic, and, with `[snapshot] enabled`, a `camera` on the retained `snapshot` JPEG. Availability
follows the retained `status` topic (LWT). Entity ids are suggested with `default_entity_id` (`object_id` is
deprecated and stops working in Home Assistant Core 2026.4).
"""

from __future__ import annotations

import json
from typing import Any

from edgepose import __version__
from edgepose.mqtt.contract import OFFLINE, ONLINE, Topics, validate_prefix

# Fields of the `stats` payload the diagnostic sensors read (docs/mqtt.md, "stats"); dotted = nested.
STATS_FPS = "processed_fps"
STATS_INFERENCE_MS = "stage_ms.total"
STATS_SOC_TEMPERATURE = "soc_temp_c"


def _value_template(path: str) -> str:
    """Jinja that yields the (possibly nested) field, or none while it is absent or null (no HA warnings)."""
    parts = path.split(".")
    checks = " and ".join(f"value_json.{'.'.join(parts[:i + 1])} is defined" for i in range(len(parts)))
    return f"{{{{ value_json.{path} if {checks} else none }}}}"


def node_id(device_id: str) -> str:
    return f"edgepose_{device_id}"


def discovery_topic(ha_prefix: str, device_id: str) -> str:
    validate_prefix(ha_prefix)
    return f"{ha_prefix}/device/{node_id(device_id)}/config"


def _sensor(uid: str, name: str, field: str, topics: Topics, **extra: Any) -> dict[str, Any]:
    return {
        "p": "sensor",
        "name": name,
        "unique_id": uid,
        "default_entity_id": f"sensor.{uid}",
        "state_topic": topics.stats,
        "value_template": _value_template(field),
        "state_class": "measurement",
        "entity_category": "diagnostic",
        **extra,
    }


def discovery_payload(topics: Topics, *, temperature: bool = True, sw_version: str = __version__,
                      model: str = "BlazePose", snapshot: bool = False) -> dict[str, Any]:
    """The device-based discovery payload for the device of `topics`."""
    nid = node_id(topics.device_id)
    components: dict[str, dict[str, Any]] = {
        "occupancy": {
            "p": "binary_sensor",
            "name": "Occupancy",
            "unique_id": f"{nid}_occupancy",
            "default_entity_id": f"binary_sensor.{nid}_occupancy",
            "device_class": "occupancy",
            "state_topic": topics.presence,
            "value_template": "{{ 'ON' if value_json.present else 'OFF' }}",
            "json_attributes_topic": topics.presence,
            "qos": 1,
        },
        "people": {
            "p": "sensor",
            "name": "People",
            "unique_id": f"{nid}_people",
            "default_entity_id": f"sensor.{nid}_people",
            "state_topic": topics.presence,
            "value_template": "{{ value_json.count }}",
            "state_class": "measurement",
            "icon": "mdi:account-multiple",
            "qos": 1,
        },
        "fps": _sensor(f"{nid}_fps", "Processed fps", STATS_FPS, topics, unit_of_measurement="fps",
                       suggested_display_precision=1, icon="mdi:speedometer"),
        "inference": _sensor(f"{nid}_inference_ms", "Inference time", STATS_INFERENCE_MS, topics,
                             unit_of_measurement="ms", device_class="duration",
                             suggested_display_precision=1),
    }
    if temperature:
        components["soc_temperature"] = _sensor(
            f"{nid}_soc_temperature", "SoC temperature", STATS_SOC_TEMPERATURE, topics,
            unit_of_measurement="°C", device_class="temperature", suggested_display_precision=1)
    if snapshot:
        # An MQTT camera shows the retained JPEG of the last enter event (raw bytes: no image_encoding).
        components["snapshot"] = {
            "p": "camera",
            "name": "Snapshot",
            "unique_id": f"{nid}_snapshot",
            "default_entity_id": f"camera.{nid}_snapshot",
            "topic": topics.snapshot,
            "icon": "mdi:account-box",
        }
    return {
        "dev": {
            "ids": [nid],
            "name": f"edgepose {topics.device_id}",
            "mf": "edgepose",
            "mdl": f"edgepose pose daemon ({model})",
            "sw": sw_version,
        },
        "o": {"name": "edgepose", "sw": sw_version},  # no "url": the project has no public home page yet
        "availability": [
            {"topic": topics.status, "payload_available": ONLINE, "payload_not_available": OFFLINE}
        ],
        "cmps": components,
    }


def discovery_message(topics: Topics, ha_prefix: str, **kwargs: Any) -> tuple[str, bytes]:
    """(topic, payload) of the retained discovery config."""
    payload = json.dumps(discovery_payload(topics, **kwargs), separators=(",", ":"), ensure_ascii=False)
    return discovery_topic(ha_prefix, topics.device_id), payload.encode()


def ha_status_topic(ha_prefix: str) -> str:
    """Where Home Assistant announces itself (birth `online`, will `offline`)."""
    return f"{validate_prefix(ha_prefix)}/status"
