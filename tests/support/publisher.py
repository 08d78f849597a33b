"""Publishers of the MQTT tests: a configuration aimed at a test broker, and a fixture closing what it started."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from edgepose.config import Config, parse_config
from edgepose.mqtt.publisher import Publisher
from support.broker import Broker


def publisher_config(broker: Broker, device: str, *, keepalive: int = 5, **mqtt_over: object) -> Config:
    """The `[mqtt]` section for `broker`, reconnecting within tenths of a second; `mqtt_over` sets other keys."""
    mqtt = {"host": broker.host, "port": broker.port, "reconnect_min": 0.05, "reconnect_max": 0.3,
            "keepalive": keepalive, **mqtt_over}  # fmt: skip
    return parse_config({"device": {"id": device}, "mqtt": mqtt}, env={})


@pytest.fixture
def publishers() -> Iterator[Callable[[Config], Publisher]]:
    """`publishers(config)` starts a Publisher; each is closed when the test ends."""
    made: list[Publisher] = []

    def make(config: Config) -> Publisher:
        publisher = Publisher(config.mqtt, config.device.id, config.homeassistant).start()
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        publisher.close(timeout=1.0)
