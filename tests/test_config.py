"""The TOML configuration: validation, environment overrides, secrets and `edgepose config check`."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.paths import REPO

from edgepose.cli import EXIT_CONFIG
from edgepose.config import (
    Config,
    ConfigError,
    Secret,
    dump_toml,
    iter_keys,
    key_path,
    load_config,
    parse_config,
    sections,
    settings_table,
    to_dict,
)

EXAMPLE = REPO / "docs" / "edgepose.example.toml"
PASSWORD = "Tr0ub4dor-&3-unique-5b2e"


def test_defaults() -> None:
    cfg = parse_config({}, env={})
    assert cfg.mqtt.port == 1883 and cfg.mqtt.prefix == "edgepose" and cfg.mqtt.protocol == "5"
    assert cfg.device.id  # the host name
    assert cfg.mqtt.client_id == f"edgepose-{cfg.device.id}"
    assert cfg.presence.enter_frames == 3 and cfg.presence.leave_seconds == 2.0
    assert cfg.mqtt.password is None


def test_example_file_validates_and_documents_every_key() -> None:
    cfg = load_config(EXAMPLE, env={})
    assert isinstance(cfg, Config)
    text = EXAMPLE.read_text()
    docs = (REPO / "docs" / "configuration.md").read_text()
    for key, _default, _doc in iter_keys():
        section, _, name = key.rpartition(".")
        assert f"`{key}`" in docs, f"{key} is not documented in docs/configuration.md"
        assert f"{name} =" in text, f"{key} is missing from {EXAMPLE.name}"
        assert f"[{section}]" in text


def test_docs_key_tables_are_the_metadata() -> None:
    """docs/configuration.md's table of each section is made from the fields (`python tools/config_docs.py`)."""
    lines = (REPO / "docs" / "configuration.md").read_text().split("\n")
    for path, cls in sections():
        head = lines.index(f"### `[{path}]`")
        start = next(i for i in range(head + 1, len(lines)) if lines[i].startswith("| Key |"))
        end = next(i for i in range(start, len(lines) + 1) if i == len(lines) or not lines[i].startswith("|"))
        assert lines[start:end] == settings_table(cls, path), f"[{path}]: run python tools/config_docs.py"


def test_sections_built_in_code_are_validated_by_the_same_metadata() -> None:
    """A section made by a command or a test obeys the file's rules (one description), naming the field."""
    from edgepose.config import EngineConfig, PresenceConfig, ValidityConfig

    with pytest.raises(ConfigError, match=r"^max_poses: 0 is out of range; allowed: 1 to 16"):
        EngineConfig(max_poses=0)
    with pytest.raises(ConfigError, match=r"^precision: 'fast' is not allowed"):
        EngineConfig(precision="fast")
    with pytest.raises(ConfigError, match=r"^min_extent: must be a number, got a string"):
        ValidityConfig(min_extent="0.1")  # type: ignore[arg-type]
    assert PresenceConfig(leave_seconds=0).leave_seconds == 0
    assert EngineConfig(threads=None, models_dir=str(REPO)).threads is None  # None: the runtime's choice


def test_engine_internal_fields_are_not_keys() -> None:
    """engine.static & co. are set by the commands: not in the file, the dump or the docs."""
    keys = [k for k, _, _ in iter_keys()]
    assert "engine.static" not in keys and "engine.full_graph" not in keys
    assert "static" not in dump_toml(parse_config({}, env={}))
    with pytest.raises(ConfigError, match=r"engine.static: unknown key"):
        parse_config({"engine": {"static": True}}, env={})


@pytest.mark.parametrize(
    ("data", "key", "hint"),
    [
        ({"mqtt": {"prot": 5}}, "mqtt.prot", "allowed keys: host, port"),
        ({"mqt": {}}, "mqt", "allowed keys: device, source"),
        ({"mqtt": {"port": 0}}, "mqtt.port", "1 to 65535"),
        ({"mqtt": {"port": "1883"}}, "mqtt.port", "integer"),
        ({"mqtt": {"port": True}}, "mqtt.port", "integer"),
        ({"mqtt": {"protocol": 4}}, "mqtt.protocol", "'5', '3.1.1'"),
        ({"mqtt": {"tls": {"enabled": "yes"}}}, "mqtt.tls.enabled", "true or false"),
        ({"mqtt": {"tls": {"verify": False}}}, "mqtt.tls.verify", "unknown key"),
        ({"mqtt": {"tls": 1}}, "mqtt.tls", "table"),
        ({"mqtt": {"prefix": "a/+/b"}}, "mqtt.prefix", "wildcards"),
        ({"mqtt": {"prefix": "a//b"}}, "mqtt.prefix", "empty level"),
        ({"mqtt": {"password": "x"}}, "mqtt.password", "password_file"),
        ({"mqtt": {"reconnect_min": 10.0, "reconnect_max": 1.0}}, "mqtt.reconnect_min", "reconnect_max"),
        ({"mqtt": {"password_env": "1BAD"}}, "mqtt.password_env", "environment variable name"),
        ({"device": {"id": "living room"}}, "device.id", "A-Z a-z 0-9 _ -"),
        ({"device": {"id": "a#"}}, "device.id", "A-Z a-z 0-9 _ -"),
        ({"engine": {"model": "huge"}}, "engine.model", "'lite', 'full', 'heavy'"),
        ({"engine": {"heatmap_kernel": 8}}, "engine.heatmap_kernel", "7, 9"),
        ({"engine": {"edgetpu_device": "usb0"}}, "engine.edgetpu_device", "usb:N"),
        ({"engine": {"min_detection_score": float("nan")}}, "engine.min_detection_score", "finite"),
        ({"source": {"pace": "slow"}}, "source.pace", "'realtime', 'fast'"),
        ({"source": {"uri": 99}}, "source.uri", "camera index"),
        ({"source": {"uri": [1]}}, "source.uri", "string"),
        ({"presence": {"enter_frames": 0}}, "presence.enter_frames", "1 to 1000"),
        ({"smoothing": {"enabled": 1}}, "smoothing.enabled", "true or false"),
        ({"stats": {"interval_seconds": "60"}}, "stats.interval_seconds", "number"),
        ({"homeassistant": {"prefix": ""}}, "homeassistant.prefix", "not allowed"),
        ({"device": "x"}, "device", "table"),
    ],
)
def test_errors_name_the_key_path_and_what_is_allowed(data: dict, key: str, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data, env={})
    assert info.value.key == key
    msg = str(info.value)
    assert msg.startswith(f"{key}: ")
    assert hint in msg
    assert "\n" not in msg


def test_environment_overrides_are_parsed_and_validated(tmp_path: Path) -> None:
    env = {
        "EDGEPOSE_MQTT_HOST": "broker.lan",
        "EDGEPOSE_MQTT_PORT": "8883",
        "EDGEPOSE_MQTT_TLS_ENABLED": "true",
        "EDGEPOSE_SOURCE_URI": "2",
        "EDGEPOSE_SMOOTHING_ENABLED": "off",
        "EDGEPOSE_TEST_DATA": "/not/a/config/variable",
    }
    cfg = parse_config({"mqtt": {"host": "overridden", "port": 1883}}, env=env)
    assert (cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.tls.enabled) == ("broker.lan", 8883, True)
    assert cfg.source.uri == "2" and cfg.smoothing.enabled is False
    env_hint = r"\(from environment variable EDGEPOSE_MQTT_PORT\)$"
    with pytest.raises(ConfigError, match=r"^mqtt\.port: 'abc' is not an integer.*" + env_hint):
        parse_config({}, env={"EDGEPOSE_MQTT_PORT": "abc"})
    with pytest.raises(ConfigError, match=r"^mqtt\.port: .*out of range.*EDGEPOSE_MQTT_PORT"):
        parse_config({}, env={"EDGEPOSE_MQTT_PORT": "70000"})
    with pytest.raises(ConfigError, match=r"^mqtt\.hots: unknown key \(from environment variable EDGEPOSE_MQTT"):
        parse_config({}, env={"EDGEPOSE_MQTT_HOTS": "x"})


def test_password_sources_and_redaction(tmp_path: Path) -> None:
    pw_file = tmp_path / "pw"
    pw_file.write_text(PASSWORD + "\n")
    pw_file.chmod(0o600)  # a secret readable by others is refused
    from_file = parse_config({"mqtt": {"username": "u", "password_file": str(pw_file)}}, env={})
    from_env = parse_config({"mqtt": {"username": "u", "password_env": "MQTT_PW"}}, env={"MQTT_PW": PASSWORD})
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mqtt_password").write_text(PASSWORD)
    from_cred = parse_config({"mqtt": {"username": "u"}}, env={"CREDENTIALS_DIRECTORY": str(creds)})
    for cfg in (from_file, from_env, from_cred):
        assert isinstance(cfg.mqtt.password, Secret)
        assert cfg.mqtt.password.reveal() == PASSWORD
        for text in (repr(cfg), str(cfg), dump_toml(cfg), repr(to_dict(cfg)), f"{cfg.mqtt.password}"):
            assert PASSWORD not in text
        assert to_dict(cfg)["mqtt"]["password"] == "***"
    with pytest.raises(ConfigError, match=r"^mqtt\.password_env: environment variable MQTT_PW is not set"):
        parse_config({"mqtt": {"username": "u", "password_env": "MQTT_PW"}}, env={})
    with pytest.raises(ConfigError, match=r"^mqtt\.password_file: cannot read"):
        parse_config({"mqtt": {"username": "u", "password_file": str(tmp_path / "nope")}}, env={})
    with pytest.raises(ConfigError, match=r"^mqtt\.username: a password is configured"):
        parse_config({"mqtt": {"password_file": str(pw_file)}}, env={})


def test_dump_is_loadable_again(tmp_path: Path) -> None:
    cfg = parse_config({"mqtt": {"port": 1884, "tls": {"enabled": False}}, "device": {"id": "d1"}}, env={})
    again = parse_config(tomllib.loads(dump_toml(cfg)), env={})
    assert again == cfg


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEPOSE_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "edgepose", "-vv", *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("content", "key"),
    [
        ("[mqtt]\nport = 'x'\n", "mqtt.port"),
        ("[mqtt]\nunknown = 1\n", "mqtt.unknown"),
        ("[mqtt\n", "invalid TOML"),
        ("\x00\xff", "invalid TOML"),
        ("[engine]\nprecision = 'int4'\n", "engine.precision"),
    ],
)
def test_config_check_exits_78_with_one_line(tmp_path: Path, content: str, key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(content.encode("latin-1"))
    res = run_cli("config", "check", str(path))
    assert res.returncode == EXIT_CONFIG
    assert res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert key in res.stderr and "Traceback" not in res.stderr


def test_config_check_missing_file(tmp_path: Path) -> None:
    res = run_cli("config", "check", str(tmp_path / "missing.toml"))
    assert res.returncode == EXIT_CONFIG and "Traceback" not in res.stderr


def test_config_check_never_prints_the_password(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD)
    pw.chmod(0o600)  # a secret readable by others is refused
    good = tmp_path / "good.toml"
    good.write_text(f"[mqtt]\nusername = 'u'\npassword_file = '{pw}'\n")
    res = run_cli("config", "check", str(good))
    assert res.returncode == 0, res.stderr
    assert 'password = "***"' in res.stdout
    res_json = run_cli("config", "check", "--json", str(good))
    res_env = run_cli("config", "check", str(tmp_path / "nothing.toml"),
                      env={"EDGEPOSE_MQTT_PASSWORD_ENV": "PW", "PW": PASSWORD})
    bad = tmp_path / "bad.toml"
    bad.write_text(f"[mqtt]\nusername = 'u'\npassword_file = '{pw}'\nport = -1\n")
    res_bad = run_cli("config", "check", str(bad))
    assert res_bad.returncode == EXIT_CONFIG
    for r in (res, res_json, res_env, res_bad):
        assert PASSWORD not in r.stdout + r.stderr


# --- property-based: any TOML document gives a Config or a ConfigError naming a key path ---------------

_SECTIONS = {section: [k.split(".")[-1] for k, _, _ in iter_keys() if k.startswith(section + ".")]
             for section in ("device", "source", "engine", "smoothing", "presence", "mqtt", "homeassistant",
                             "stats")}
_SECTIONS["mqtt.tls"] = ["enabled", "ca_file", "cert_file", "key_file"]

scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["5", "3.1.1", "lite", "int8", "edgetpu", "usb:1", "fast", "edgepose/x", "a+b", "#"]),
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 1, 1)),
    st.dates(),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=8), inner, max_size=3), max_leaves=6)


@st.composite
def documents(draw: st.DrawFn) -> dict:
    doc: dict = {}
    for _ in range(draw(st.integers(0, 4))):
        section = draw(st.sampled_from([*_SECTIONS, "bogus"]) | st.text(max_size=8))
        known = _SECTIONS.get(section, [])
        keys = st.sampled_from(known) | st.text(max_size=10) if known else st.text(max_size=10)
        table = draw(st.dictionaries(keys, values, max_size=4))
        if section == "mqtt.tls":
            doc.setdefault("mqtt", {})
            if isinstance(doc["mqtt"], dict):
                doc["mqtt"]["tls"] = table
        elif draw(st.integers(0, 9)) == 0:
            doc[section] = draw(values)  # a section that is not a table
        else:
            doc[section] = table
    return doc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.dictionaries(st.sampled_from(["EDGEPOSE_MQTT_PORT", "EDGEPOSE_MQTT_HOST",
                                                     "EDGEPOSE_ENGINE_THREADS", "EDGEPOSE_MQTT_TLS_ENABLED",
                                                     "EDGEPOSE_SOURCE_URI", "EDGEPOSE_MQTT_XYZ"]),
                                    st.text(max_size=8).filter(lambda s: "\x00" not in s), max_size=2))
def test_random_documents_give_config_or_config_error_with_key_path(doc: dict, env: dict) -> None:
    try:
        cfg = parse_config(doc, env=env)
    except ConfigError as e:
        assert e.key, f"error without a key path: {e}"
        tops = [key_path("", k) for k in doc]
        from_file = any(e.key == t or e.key.startswith((t + ".", t + " ")) for t in tops)
        from_env = "environment variable EDGEPOSE_" in str(e)
        assert from_file or from_env, e.key
        assert "\n" not in str(e)
    else:
        assert isinstance(cfg, Config)
        assert parse_config(tomllib.loads(dump_toml(cfg)), env={}) == cfg


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_random_toml_text_never_raises_anything_but_config_error(tmp_path_factory, text: str) -> None:
    path = tmp_path_factory.mktemp("toml") / "c.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        cfg = load_config(path, env={})
    except ConfigError as e:
        assert str(e)
    else:
        assert isinstance(cfg, Config)


def _toml(value: object) -> str:
    """A minimal TOML writer for the property test (inline tables; every key quoted)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(repr(value), repr(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{_toml(str(k))} = {_toml(v)}" for k, v in value.items()) + "}"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=documents())
def test_config_check_on_random_files_exits_0_or_78_with_one_line(tmp_path, capsys, doc: dict) -> None:
    from edgepose.cli import main

    text = "".join(f"{_toml(str(k))} = {_toml(v)}\n" for k, v in doc.items())
    path = tmp_path / "random.toml"
    path.write_text(text, encoding="utf-8")
    if "nan" not in text:  # NaN != NaN
        assert tomllib.loads(text) == doc  # the file says what the document says
    status = main(["config", "check", "-q", str(path)])
    err = capsys.readouterr().err
    assert status in (0, EXIT_CONFIG)
    assert "Traceback" not in err
    if status == EXIT_CONFIG:
        assert len(err.strip().splitlines()) == 1 and "invalid configuration: " in err
    else:
        assert err == ""


def test_documented_defaults_are_the_code_defaults() -> None:
    """docs/configuration.md states each default; it must be the value the code uses (spec §5.1 for smoothing)."""
    import re

    docs = (REPO / "docs" / "configuration.md").read_text()
    for key, default, _doc in iter_keys():
        m = re.search(rf"\| `{re.escape(key)}` \| `([^`]*)` \|", docs)
        assert m, f"{key}: no default in docs/configuration.md"
        if isinstance(default, bool):
            expected = "true" if default else "false"
        elif isinstance(default, str):
            expected = f'"{default}"'
        else:
            expected = repr(default)
        assert m.group(1) == expected, f"{key}: docs say {m.group(1)}, code default is {expected}"


def test_smoothing_defaults_follow_the_spec() -> None:
    s = load_config(None, env={}).smoothing
    assert (s.landmark_min_cutoff, s.landmark_beta) == (0.05, 80.0)
    assert (s.world_min_cutoff, s.world_beta) == (0.1, 40.0)
    assert (s.aux_min_cutoff, s.aux_beta) == (0.01, 10.0)


def test_empty_systemd_credential_means_no_password(tmp_path: Path) -> None:
    (tmp_path / "mqtt_password").write_text("")
    assert load_config(None, env={"CREDENTIALS_DIRECTORY": str(tmp_path)}).mqtt.password is None
    (tmp_path / "mqtt_password").write_text("s3cret\n")
    cfg = load_config(None, env={"CREDENTIALS_DIRECTORY": str(tmp_path), "EDGEPOSE_MQTT_USERNAME": "pi"})
    assert cfg.mqtt.password is not None and cfg.mqtt.password.reveal() == "s3cret"


def test_min_person_score_setting_reaches_the_photo_stage() -> None:
    from edgepose.daemon.pipeline import validity_stage

    assert parse_config({}, env={}).validity.min_person_score == 0.5
    cfg = parse_config({"validity": {"min_person_score": 0.8}}, env={})
    assert validity_stage(cfg, static=True).config.min_person_score == 0.8
    for bad in (1.5, -0.1, "high"):
        with pytest.raises(ConfigError, match=r"validity\.min_person_score"):
            parse_config({"validity": {"min_person_score": bad}}, env={})
