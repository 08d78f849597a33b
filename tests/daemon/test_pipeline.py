"""The daemon's per-frame path pieces: the [validity] section maps onto the stage's thresholds one to one."""

from __future__ import annotations

import dataclasses

from edgepose import config as cfg_mod
from edgepose.config import parse_config
from edgepose.daemon.pipeline import validity_config
from edgepose.validity import ValidityConfig


def test_validity_section_and_stage_config_have_the_same_keys_and_defaults() -> None:
    section = {f.name: f.default for f in dataclasses.fields(cfg_mod.ValidityConfig)}
    stage = {f.name: f.default for f in dataclasses.fields(ValidityConfig)}
    assert section == stage


def test_values_and_enabled_override_reach_the_stage() -> None:
    cfg = parse_config({"validity": {"still_seconds": 2.5, "motion": False}}, env={})
    v = validity_config(cfg)
    assert v.still_seconds == 2.5 and v.motion is False and v.enabled is True
    assert validity_config(cfg, enabled=False).enabled is False
