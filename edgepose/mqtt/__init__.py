"""MQTT: the topic/payload contract, the publisher and Home Assistant discovery (docs/mqtt.md)."""
