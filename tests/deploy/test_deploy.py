"""deploy.sh end to end: a real deployment over ssh to an OpenSSH server on a loopback port.

The server (tests/support/sshd.py) runs as the test user with throwaway keys; the target prefix is a temporary
directory, so nothing outside it changes. The target has no running systemd, so deploy.sh skips the systemctl
steps with a notice. The deployment builds from a snapshot of the repository (so concurrent edits cannot change
the release between two runs); EDGEPOSE_DEPLOY_TEST_SOURCE points it at another checkout.

The venv is created with --system-site-packages from this interpreter, so numpy, OpenCV, LiteRT and paho-mqtt
already installed here are reused (as Raspberry Pi OS's numpy and picamera2 are on a device).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.publish as publish
import pytest
from support.broker import Broker, Subscriber
from support.paths import REPO, SHARED_DATA, skimage_photo
from support.sshd import SshServer, free_port, missing_tools

DEPLOY = REPO / "deploy.sh"
SOURCE = Path(os.environ.get("EDGEPOSE_DEPLOY_TEST_SOURCE", REPO))
PYTHON = sys.executable
DEPLOY_TIMEOUT = 300

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason=f"missing: {', '.join(missing_tools())}")


def test_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (Debian package 'shellcheck')")
    r = subprocess.run([shellcheck, "--severity=style", str(DEPLOY)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ci_does_not_install_the_ssh_service() -> None:
    # openssh-server's postinst enables and starts sshd on port 22 of a systemd machine (issue 12): CI unpacks
    # the binary instead (.ci/unpack-sshd) and the tests run it on a loopback port.
    ci = (REPO / ".ci/run").read_text()
    assert "need+=(openssh-server)" not in ci and "install openssh-server" not in ci
    assert ".ci/unpack-sshd .cache/openssh-server" in ci
    unpack = (REPO / ".ci/unpack-sshd").read_text()
    assert "dpkg-deb -x" in unpack and "apt-get download" in unpack


def test_deploy_is_executable() -> None:
    assert os.access(DEPLOY, os.X_OK)


# --- fixtures -----------------------------------------------------------------------------------------------------
def copy_source(dest: Path) -> Path:
    """The project as deploy.sh sees it: sources, int8 models, unit and docs (no .git, float models or tests)."""
    ignore = shutil.ignore_patterns(".git", "float", "tests", "build", "dist", "*.egg-info", "__pycache__",
                                    ".venv*", ".cache", ".pytest_cache", ".ruff_cache")  # fmt: skip
    shutil.copytree(SOURCE, dest, ignore=ignore, symlinks=True)
    shutil.copy2(DEPLOY, dest / "deploy.sh")
    return dest


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("deploy")


@pytest.fixture(scope="module")
def sshd(workdir: Path) -> Iterator[SshServer]:
    server = SshServer(workdir / "sshd").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def source(workdir: Path) -> Path:
    return copy_source(workdir / "src")


@pytest.fixture(scope="module")
def prefix(workdir: Path) -> Path:
    p = workdir / "target"
    p.mkdir()
    return p


def run_deploy(*args: str, timeout: float = DEPLOY_TIMEOUT) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(["bash", str(DEPLOY), *args], capture_output=True, text=True, timeout=timeout)
    print(f"$ deploy.sh {' '.join(args)}\n--- rc={r.returncode}\n{r.stdout}\n--- stderr\n{r.stderr}")
    return r


@pytest.fixture(scope="module")
def deploy_to(sshd: SshServer, prefix: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    def deploy(src: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return run_deploy(sshd.target, *sshd.ssh_options(), "--prefix", str(prefix), "--python", PYTHON,
                          "--source", str(src), *extra)  # fmt: skip

    return deploy


@pytest.fixture(scope="module")
def first_deploy(deploy_to: Callable[..., subprocess.CompletedProcess[str]],
                 source: Path) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return deploy_to(source)


@pytest.fixture(scope="module")
def wheel(first_deploy: subprocess.CompletedProcess[str], prefix: Path, workdir: Path) -> Path:
    """The wheel of the first deployment, for runs where only the models/unit differ (saves a build each)."""
    assert first_deploy.returncode == 0, first_deploy.stderr
    (built,) = (opt(prefix) / current(prefix)).glob("edgepose-*.whl")
    (workdir / "wheel").mkdir(exist_ok=True)
    return Path(shutil.copy2(built, workdir / "wheel" / built.name))


def opt(prefix: Path) -> Path:
    return prefix / "opt/edgepose"


def current(prefix: Path) -> str:
    return os.readlink(opt(prefix) / "current")


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Every path under root with its type, size, mtime and link target: any change shows up."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            link = os.readlink(p) if p.is_symlink() else None
            out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns, link)
    return out


def edgepose_exe(prefix: Path) -> Path:
    return opt(prefix) / "current/venv/bin/edgepose"


# --- the deployment ----------------------------------------------------------------------------------------------
def test_deploy_installs_a_working_release(first_deploy: subprocess.CompletedProcess[str], prefix: Path,
                                          sshd: SshServer) -> None:  # fmt: skip
    assert first_deploy.returncode == 0, first_deploy.stderr
    assert list(sshd.remote_tmp.iterdir()) == [], "the upload staging directory is removed"
    release = current(prefix)
    assert release.startswith("releases/0."), release
    assert f"deployed release {release.removeprefix('releases/')}" in first_deploy.stdout
    # No systemd on this target: the systemctl steps are skipped, and said so.
    assert "notice: systemd is not running" in first_deploy.stdout

    r = subprocess.run([str(edgepose_exe(prefix)), "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith("edgepose ")

    rel = opt(prefix) / release
    cfg = (rel / "venv/pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in cfg
    # The system numpy is used, not a copy pip put into the venv.
    np_path = subprocess.run([str(rel / "venv/bin/python"), "-c", "import numpy; print(numpy.__file__)"],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert not np_path.startswith(str(rel)), np_path
    assert [w.name.split("-")[0] for w in rel.glob("*.whl")] == ["edgepose"]
    assert not (rel / "models/float").exists()
    # Only the runtime is shipped (issue 12): the development commands say in one line what to install.
    r = subprocess.run([str(edgepose_exe(prefix)), "models", "build"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 69 and r.stderr.count("\n") == 1 and "edgepose-dev" in r.stderr, r.stderr

    unit = (prefix / "etc/systemd/system/edgepose.service").read_text()
    assert f"ExecStart={prefix}/opt/edgepose/current/venv/bin/edgepose run --config {prefix}/etc/edgepose/" in unit
    assert (prefix / "etc/edgepose/edgepose.toml").is_file()
    pw = prefix / "etc/edgepose/mqtt_password"
    assert pw.is_file() and pw.stat().st_mode & 0o777 == 0o600


def test_models_shipped_are_the_int8_ones(first_deploy: subprocess.CompletedProcess[str], prefix: Path,
                                          source: Path) -> None:  # fmt: skip
    assert first_deploy.returncode == 0
    shipped = sorted(p.name for p in (opt(prefix) / "current/models").iterdir())
    expected = sorted(p.name for p in (*source.glob("models/*.tflite"), *source.glob("models/manifest.json")))
    assert shipped == expected


def int8_landmark_model(models: Path) -> str | None:
    for complexity in ("lite", "full", "heavy"):
        if any(models.glob(f"*landmark*{complexity}*.tflite")):
            return complexity
    return None


def test_installed_edgepose_infers_on_a_photo(first_deploy: subprocess.CompletedProcess[str],
                                              prefix: Path) -> None:  # fmt: skip
    assert first_deploy.returncode == 0
    models = opt(prefix) / "current/models"
    complexity = int8_landmark_model(models)
    if complexity is None:
        pytest.skip(f"the repository ships no int8 models in models/ (so the release has none in {models})")
    photo = SHARED_DATA / "images/unannotated/tfjs/pose.jpg"
    if not photo.is_file():
        photo = skimage_photo("astronaut.png")
    env = {**os.environ, "EDGEPOSE_MODELS_DIR": str(models)}
    r = subprocess.run([str(edgepose_exe(prefix)), "infer", str(photo), "--precision", "int8", "--model", complexity],
                       capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert r.returncode == 0, f"edgepose infer failed in the installed release:\n{r.stderr}"
    records = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    frames = [rec for rec in records if "summary" not in rec]
    assert len(frames) == 1
    poses = frames[0]["poses"]
    assert len(poses) >= 1, "no pose found on a photo of a person"
    assert len(poses[0]["keypoints"]) == 33


def test_installed_edgepose_run_publishes_to_a_broker(first_deploy: subprocess.CompletedProcess[str],
                                                      prefix: Path, broker: Broker) -> None:  # fmt: skip
    assert first_deploy.returncode == 0
    exe = edgepose_exe(prefix)
    probe = subprocess.run([str(exe), "run", "--help"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.fail(f"the installed edgepose has no working 'run' command (the daemon, issue 4):\n{probe.stderr}")
    video = SHARED_DATA / "videos/fitness_squats_tfjs.mp4"
    if not video.is_file():
        pytest.skip(f"shared video not found: {video}")
    models = opt(prefix) / "current/models"
    complexity = int8_landmark_model(models)
    engine = ["--precision", "int8", "--model", complexity] if complexity else []
    sub = Subscriber(broker, "edgepose/deploytest/#")
    env = {**os.environ, "EDGEPOSE_MODELS_DIR": str(models)}
    proc = subprocess.Popen(
        [str(exe), "run", "--config", str(prefix / "etc/edgepose/edgepose.toml"),
         "--broker", f"127.0.0.1:{broker.port}", "--device-id", "deploytest",
         "--source", str(video), "--loop", "--pace", "fast", *engine],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        online = sub.wait_payload("edgepose/deploytest/status", b"online", timeout=45)
        got_pose = online and sub.wait_for(
            lambda ms: any(m.topic == "edgepose/deploytest/pose" for m in ms), timeout=30
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        sub.close()
    assert online, f"no retained 'online' from the installed daemon:\n{err}"
    assert got_pose, f"no pose frame from the installed daemon:\n{err}"
    frame = json.loads(sub.on("edgepose/deploytest/pose")[0].payload)
    assert "poses" in frame


def test_wait_online_sees_the_retained_status(first_deploy: subprocess.CompletedProcess[str], prefix: Path,
                                              workdir: Path, broker: Broker) -> None:  # fmt: skip
    """deploy.sh's post-restart check, on its own: it reads the daemon's config and waits for `online`."""
    assert first_deploy.returncode == 0
    target = workdir / "online-target"
    (target / "opt/edgepose").mkdir(parents=True)
    (target / "opt/edgepose/current").symlink_to(opt(prefix) / current(prefix))
    (target / "etc/edgepose").mkdir(parents=True)
    (target / "etc/edgepose/edgepose.toml").write_text(
        f'[device]\nid = "shelf"\n[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\nprefix = "deploy-check"\n')
    (target / "etc/edgepose/mqtt_password").write_text("")
    check = ["--on-target", "--phase", "wait-online", "--prefix", str(target), "--online-timeout", "2"]

    r = run_deploy(*check, timeout=60)
    assert r.returncode == 0  # a missing `online` is a warning: the service may still be connecting
    assert "no 'online' status seen (nothing on deploy-check/shelf/status" in r.stderr

    publish.single("deploy-check/shelf/status", "online", retain=True, hostname="127.0.0.1", port=broker.port)
    r = run_deploy(*check, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "daemon is online" in r.stdout
    assert f"mosquitto_sub -h 127.0.0.1 -p {broker.port} -t 'deploy-check/shelf/#' -v" in r.stdout


def test_second_run_changes_nothing(deploy_to: Callable[..., subprocess.CompletedProcess[str]],
                                    first_deploy: subprocess.CompletedProcess[str],
                                    source: Path, prefix: Path) -> None:  # fmt: skip
    assert first_deploy.returncode == 0
    before = snapshot(prefix)
    r = deploy_to(source)
    assert r.returncode == 0, r.stderr
    assert "already deployed" in r.stdout
    assert snapshot(prefix) == before


def test_dry_run_touches_nothing(deploy_to: Callable[..., subprocess.CompletedProcess[str]], wheel: Path,
                                 workdir: Path, prefix: Path, sshd: SshServer) -> None:  # fmt: skip
    # A different release (changed unit comment), so that the dry run has a whole install to describe.
    src = copy_source(workdir / "src-dry")
    unit = src / "systemd/edgepose.service"
    unit.write_text(unit.read_text() + "# dry-run variant\n")
    before = snapshot(prefix)
    r = deploy_to(src, "--dry-run", "--wheel", str(wheel))
    assert r.returncode == 0, r.stderr
    assert "[dry-run]" in r.stdout and "dry run finished: nothing was changed" in r.stdout
    assert "-m venv" in r.stdout and "would switch" in r.stdout
    assert snapshot(prefix) == before
    assert list(sshd.remote_tmp.iterdir()) == [], "nothing uploaded to the target"


def test_dry_run_with_edgetpu_and_broker_names_the_libedgetpu_package(
    deploy_to: Callable[..., subprocess.CompletedProcess[str]], wheel: Path, source: Path, prefix: Path
) -> None:
    before = snapshot(prefix)
    r = deploy_to(source, "--dry-run", "--edgetpu", "--with-broker", "--wheel", str(wheel))
    assert r.returncode == 0, r.stderr
    assert snapshot(prefix) == before
    if subprocess.run(["dpkg-query", "-W", "libedgetpu1-std"], capture_output=True).returncode == 0:
        pytest.skip("libedgetpu is installed on this machine: nothing to download")
    os_release = dict(
        line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line
    )
    codename = os_release.get("VERSION_CODENAME", "").strip('"')
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()
    if codename in ("bookworm", "trixie"):
        url = ("https://github.com/feranick/libedgetpu/releases/download/16.0TF2.19.1-1/"
               f"libedgetpu1-std_16.0tf2.19.1-1.{codename}_{arch}.deb")  # fmt: skip
        assert url in r.stdout
    else:
        assert "no feranick libedgetpu build known" in r.stdout
    assert "edgepose.service.d/edgetpu.conf" in r.stdout


def test_broken_release_rolls_back(deploy_to: Callable[..., subprocess.CompletedProcess[str]],
                                   first_deploy: subprocess.CompletedProcess[str], workdir: Path,
                                   prefix: Path) -> None:  # fmt: skip
    assert first_deploy.returncode == 0
    good = current(prefix)
    src = copy_source(workdir / "src-broken")
    pyproject = src / "pyproject.toml"
    text = pyproject.read_text()
    assert 'edgepose = "edgepose.cli:main"' in text
    # The wheel builds and installs, but its console script fails: the post-switch health check must catch it.
    pyproject.write_text(text.replace('edgepose = "edgepose.cli:main"', 'edgepose = "edgepose.cli:no_such_entry"'))
    r = deploy_to(src)
    assert r.returncode != 0
    assert f"rolled back to release {good.removeprefix('releases/')}" in r.stderr
    assert "health check failed" in r.stdout
    assert current(prefix) == good
    releases = sorted(p.name for p in (opt(prefix) / "releases").iterdir())
    assert releases == [good.removeprefix("releases/")], "the failed release must be removed"
    assert subprocess.run([str(edgepose_exe(prefix)), "--version"], capture_output=True, timeout=60).returncode == 0


def test_new_release_replaces_and_old_ones_are_pruned(deploy_to: Callable[..., subprocess.CompletedProcess[str]],
                                                      wheel: Path, workdir: Path, prefix: Path) -> None:  # fmt: skip
    seen = [current(prefix)]
    for i in range(2):
        src = copy_source(workdir / f"src-v{i}")
        unit = src / "systemd/edgepose.service"
        unit.write_text(unit.read_text() + f"# variant {i}\n")
        r = deploy_to(src, "--keep", "2", "--wheel", str(wheel))
        assert r.returncode == 0, r.stderr
        assert current(prefix) not in seen
        seen.append(current(prefix))
        assert f"variant {i}" in (prefix / "etc/systemd/system/edgepose.service").read_text()
    releases = sorted(p.name for p in (opt(prefix) / "releases").iterdir())
    assert releases == sorted(s.removeprefix("releases/") for s in seen[-2:])
    assert subprocess.run([str(edgepose_exe(prefix)), "--version"], capture_output=True, timeout=60).returncode == 0


def test_config_option_installs_and_then_is_kept(deploy_to: Callable[..., subprocess.CompletedProcess[str]],
                                                 wheel: Path, workdir: Path, prefix: Path) -> None:  # fmt: skip
    src = workdir / "src-v1"  # the current release (previous test): only the deployment state changes
    assert src.is_dir()
    release = current(prefix)
    cfg = workdir / "site.toml"
    cfg.write_text('[device]\nid = "hallway"\n')
    installed = prefix / "etc/edgepose/edgepose.toml"
    old = installed.read_text()

    r = deploy_to(src, "--wheel", str(wheel), "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    assert "reusing it" in r.stdout and current(prefix) == release
    assert installed.read_text() == cfg.read_text()
    (backup,) = installed.parent.glob("edgepose.toml.bak-*")
    assert backup.read_text() == old

    again = deploy_to(src, "--wheel", str(wheel), "--config", str(cfg))
    assert again.returncode == 0 and "already deployed" in again.stdout

    # Without --config the installed file is the user's: kept as it is.
    installed.write_text(installed.read_text() + "# edited on the device\n")
    edited = installed.read_text()
    r = deploy_to(src, "--wheel", str(wheel))
    assert r.returncode == 0, r.stderr
    assert "keeping the existing" in r.stdout
    assert installed.read_text() == edited


# --- --root (SD card) --------------------------------------------------------------------------------------------
def fake_root(root: Path, arch: str = "aarch64") -> Path:
    """The bits of a Raspberry Pi OS root filesystem deploy.sh looks at (etc/, a python3.11, the multiarch
    library directory that says which CPU's wheels to ship)."""
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text("ID=debian\nVERSION_CODENAME=bookworm\n")
    (root / "etc/rpi-issue").write_text("Raspberry Pi reference 2025-05-13\n")
    (root / "usr/bin").mkdir(parents=True)
    (root / f"usr/lib/{arch}-linux-gnu").mkdir(parents=True)
    (root / "usr/bin/python3.11").write_bytes(b"")
    (root / "usr/bin/python3").symlink_to("python3.11")
    return root


def test_root_install_leaves_an_enabled_unit(workdir: Path, source: Path, wheel: Path) -> None:
    root = fake_root(workdir / "sdcard")
    r = run_deploy("--root", str(root), "--source", str(source), "--wheel", str(wheel))
    assert r.returncode == 0, r.stderr
    units = root / "etc/systemd/system"
    wants = units / "multi-user.target.wants"
    assert os.readlink(wants / "edgepose.service") == "/etc/systemd/system/edgepose.service"
    assert os.readlink(wants / "edgepose-firstboot.service") == "/etc/systemd/system/edgepose-firstboot.service"
    assert (units / "edgepose.service").read_text() == (source / "systemd/edgepose.service").read_text()
    release = os.readlink(root / "opt/edgepose/current")
    rel = root / "opt/edgepose" / release
    assert list(rel.glob("edgepose-*.whl")) and (rel / "deploy.sh").is_file() and (rel / ".firstboot").is_file()
    firstboot = (units / "edgepose-firstboot.service").read_text()
    assert f"ExecStart=/bin/bash /opt/edgepose/{release}/deploy.sh --firstboot" in firstboot
    assert "network-online" not in firstboot  # it installs from the shipped wheels (issue 12)
    assert_wheels_complete(rel)
    assert (root / "etc/edgepose/edgepose.toml").is_file()

    again = run_deploy("--root", str(root), "--source", str(source), "--wheel", str(wheel))
    assert again.returncode == 0 and "already deployed" in again.stdout

    analyze = shutil.which("systemd-analyze")
    system_units = Path("/usr/lib/systemd/system")
    if analyze and system_units.is_dir():
        shutil.copytree(system_units, root / "usr/lib/systemd/system", symlinks=True)
        (root / "bin").mkdir()
        shutil.copy2("/bin/bash", root / "bin/bash")
        v = subprocess.run([analyze, "verify", f"--root={root}", "edgepose-firstboot.service"],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
        assert v.returncode == 0 and not v.stderr.strip(), v.stderr


AARCH64 = ["manylinux_2_28_aarch64", "manylinux_2_27_aarch64", "manylinux2014_aarch64"]


def offline_install_check(wheels: Path, wheel: Path, target: Path) -> subprocess.CompletedProcess[str]:
    """pip's resolution of edgepose for the device (CPython 3.11 on aarch64) from `wheels` alone."""
    platforms = [a for p in AARCH64 for a in ("--platform", p)]
    return subprocess.run([PYTHON, "-m", "pip", "install", "--dry-run", "--no-index", "--find-links", str(wheels),
                           *platforms, "--python-version", "3.11", "--implementation", "cp", "--only-binary=:all:",
                           "--ignore-installed", "--target", str(target), str(wheel)],
                          capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if not k.startswith("PIP_")})  # fmt: skip


def assert_wheels_complete(rel: Path) -> None:
    """The release of a --root install carries every wheel its first boot needs: offline, nothing is missing."""
    (wheel,) = rel.glob("edgepose-*.whl")
    wheels = rel / "wheels"
    names = sorted(p.name for p in wheels.glob("*.whl"))
    assert any(n.startswith("ai_edge_litert-") and "aarch64" in n for n in names), names
    r = offline_install_check(wheels, wheel, rel.parent / "check-target")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Would install" in r.stdout and "numpy" in r.stdout and "paho" in r.stdout.lower(), r.stdout
    # The check can fail: without one dependency's wheel, pip cannot resolve offline.
    partial = rel.parent / "partial-wheels"
    shutil.copytree(wheels, partial, ignore=shutil.ignore_patterns("paho_mqtt-*"))
    r = offline_install_check(partial, wheel, rel.parent / "check-target-2")
    assert r.returncode != 0 and "paho" in (r.stdout + r.stderr).lower()
    shutil.rmtree(partial)


def test_firstboot_builds_the_venv_of_a_root_install(workdir: Path, source: Path, wheel: Path) -> None:
    """What edgepose-firstboot.service runs on the device, run here on a --root tree (as if booted from it)."""
    # A root of this machine's CPU (its wheels can be installed here), with this interpreter's Python version.
    if platform.machine() not in ("x86_64", "aarch64") or sys.version_info[:2] != (3, 11):
        pytest.skip(f"the offline first boot is tested on CPython 3.11, x86_64 or aarch64 (not {platform.machine()})")
    root = fake_root(workdir / "sdcard-boot", platform.machine())
    assert run_deploy("--root", str(root), "--source", str(source), "--wheel", str(wheel)).returncode == 0
    release = os.readlink(root / "opt/edgepose/current").removeprefix("releases/")
    rel = root / "opt/edgepose/releases" / release
    firstboot = [str(rel / "deploy.sh"), "--firstboot", "--release", release, "--python", PYTHON,
                 "--prefix", str(root), "--no-os-packages"]  # fmt: skip
    # No index and no extra find-links from this machine's pip configuration: the shipped wheels alone.
    offline = {**{k: v for k, v in os.environ.items() if not k.startswith("PIP_")}, "PIP_NO_INDEX": "1",
               "PIP_CONFIG_FILE": os.devnull}  # fmt: skip
    r = subprocess.run(["bash", *firstboot], capture_output=True, text=True, timeout=DEPLOY_TIMEOUT, env=offline)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "(from the shipped wheels, offline)" in r.stdout
    assert (rel / ".complete").is_file() and not (rel / ".firstboot").exists()
    v = subprocess.run([str(root / "opt/edgepose/current/venv/bin/edgepose"), "--version"], capture_output=True)
    assert v.returncode == 0
    again = subprocess.run(["bash", *firstboot], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "nothing to do at first boot" in again.stdout


def test_root_without_python_is_a_clear_error(workdir: Path, source: Path) -> None:
    root = fake_root(workdir / "sdcard-no-python")
    for exe in ("python3", "python3.11"):
        (root / "usr/bin" / exe).unlink()
    r = run_deploy("--root", str(root), "--source", str(source), "--dry-run", timeout=60)
    assert r.returncode != 0
    assert f"no python3 in the root filesystem {root} (expected {root}/usr/bin/python3.11 or newer)" in r.stderr


def test_root_with_python_config_beside_python_is_accepted(workdir: Path, source: Path) -> None:
    # Debian's python3.11-dev puts python3.11-config next to python3.11; it is no interpreter (issue 12).
    root = fake_root(workdir / "sdcard-python-config")
    (root / "usr/bin/python3.11-config").write_bytes(b"")
    r = run_deploy("--on-target", "--phase", "check", "--root", str(root), timeout=60)
    assert r.returncode == 0, r.stderr
    assert f"target python: 3.11 (in {root})" in r.stdout


def test_root_requires_a_root_filesystem(workdir: Path, source: Path) -> None:
    empty = workdir / "not-a-root"
    empty.mkdir()
    r = run_deploy("--root", str(empty), "--source", str(source))
    assert r.returncode != 0
    assert "does not look like a root filesystem" in r.stderr


# --- clear errors --------------------------------------------------------------------------------------------------
def test_unreachable_host_is_a_clear_error(workdir: Path, source: Path) -> None:
    port = free_port()  # nothing listens here
    r = run_deploy("root@127.0.0.1", "--port", str(port), "--ssh-option", "StrictHostKeyChecking=no",
                   "--source", str(source), timeout=60)  # fmt: skip
    assert r.returncode == 69
    assert f"cannot reach root@127.0.0.1 port {port}: connection refused" in r.stderr


def test_failed_login_is_a_clear_error(sshd: SshServer, workdir: Path, source: Path, prefix: Path) -> None:
    stranger = workdir / "stranger_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    options = sshd.ssh_options()
    options[options.index("--identity") + 1] = str(stranger)
    r = run_deploy(sshd.target, *options, "--prefix", str(prefix), "--source", str(source), timeout=60)
    assert r.returncode == 77
    assert f"ssh login to {sshd.target} failed" in r.stderr


def test_old_python_on_the_target_is_a_clear_error(sshd: SshServer, workdir: Path, source: Path,
                                                   prefix: Path) -> None:  # fmt: skip
    # A stand-in for Buster's python3.7: the only thing deploy.sh asks it is its version.
    old = workdir / "python3.7"
    old.write_text("#!/bin/sh\necho 3.7\n")
    old.chmod(0o755)
    r = run_deploy(sshd.target, *sshd.ssh_options(), "--prefix", str(prefix), "--python", str(old),
                   "--source", str(source), timeout=60)  # fmt: skip
    assert r.returncode != 0
    assert "the target has Python 3.7; edgepose needs Python 3.11 or newer" in r.stderr


def test_no_free_space_is_a_clear_error(sshd: SshServer, source: Path, prefix: Path) -> None:
    need = 10**9  # a petabyte
    r = run_deploy(sshd.target, *sshd.ssh_options(), "--prefix", str(prefix), "--python", PYTHON,
                   "--min-free-mb", str(need), "--source", str(source), timeout=60)  # fmt: skip
    assert r.returncode != 0
    assert "not enough free space on the target" in r.stderr and f"need {need} MB" in r.stderr


def test_usage_errors(source: Path) -> None:
    r = run_deploy("--source", str(source), timeout=30)
    assert r.returncode == 64 and "no target" in r.stderr
    r = run_deploy("host", "--frobnicate", timeout=30)
    assert r.returncode == 64 and "unknown option: --frobnicate" in r.stderr
    r = run_deploy("host", "--prefix", "relative/dir", timeout=30)
    assert r.returncode == 64 and "--prefix must be an absolute path" in r.stderr


def _install_libedgetpu(tmp_path: Path, codename: str, arch: str, payload: bytes,
                        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """deploy.sh's install_libedgetpu with the download and apt-get replaced (no network, nothing installed):
    `curl` writes `payload`, the `env … apt-get install` step only records that it was reached."""
    (tmp_path / "payload").write_bytes(payload)
    script = f"""
EDGEPOSE_DEPLOY_FUNCTIONS_ONLY=1 . {DEPLOY}
pkg_installed() {{ return 1; }}
can_install_packages() {{ return 0; }}
os_codename() {{ printf %s {codename}; }}
dpkg() {{ printf '%s\\n' {arch}; }}
curl() {{ cp {tmp_path}/payload "$3"; }}
act() {{ if [[ "$1" == env ]]; then echo "APT-GET CALLED: $*"; else "$@"; fi; }}  # never the real apt-get
install_libedgetpu
"""
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "LIBEDGETPU_DOWNLOAD_DIR": str(tmp_path), **(env or {})})


def test_libedgetpu_hash_mismatch_aborts_before_install(tmp_path: Path) -> None:
    """Issue 15 #9: the package was installed without checking its hash."""
    r = _install_libedgetpu(tmp_path, "bookworm", "arm64", b"not the package")
    assert r.returncode != 0
    assert "sha256" in r.stderr and "expected 46ab4731" in r.stderr, r.stderr
    assert "APT-GET CALLED" not in r.stdout
    assert not list(tmp_path.glob("*.deb")), "the bad download is removed"
    # An architecture without a pinned hash is not downloaded at all.
    r = _install_libedgetpu(tmp_path, "trixie", "armhf", b"x")
    assert r.returncode == 0 and "no pinned sha256" in r.stdout and "APT-GET CALLED" not in r.stdout
    # A hash given by the user is checked the same way; a match goes on to apt-get.
    good = hashlib.sha256(b"checked by the user").hexdigest()
    r = _install_libedgetpu(tmp_path, "trixie", "armhf", b"checked by the user", {"LIBEDGETPU_SHA256": good})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "APT-GET CALLED: env DEBIAN_FRONTEND=noninteractive apt-get install" in r.stdout, r.stdout
