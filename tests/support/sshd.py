"""A throwaway OpenSSH server on a free loopback port, for deploy tests.

Debian's `openssh-server` binary runs in the foreground (`sshd -D`) with a config, host key and authorized key
that live in a temporary directory; it accepts only that key, for the user running the tests (root included,
with `PermitRootLogin prohibit-password`). The caller stops it; it never touches a system sshd.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

# $EDGEPOSE_TEST_SSHD (.ci/run sets it), else the binary .ci/unpack-sshd unpacked into the checkout's .cache,
# else an installed openssh-server's.
_UNPACKED = Path(__file__).resolve().parents[2] / ".cache/openssh-server/usr/sbin/sshd"
SSHD = Path(os.environ.get("EDGEPOSE_TEST_SSHD") or (_UNPACKED if _UNPACKED.exists() else "/usr/sbin/sshd"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def missing_tools() -> list[str]:
    """Names of the programs this helper needs that are not installed."""
    missing = [] if SSHD.exists() else ["sshd (.ci/unpack-sshd .cache/openssh-server, or openssh-server)"]
    missing += [t for t in ("ssh", "ssh-keygen") if shutil.which(t) is None]
    return missing


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


@dataclass
class SshServer:
    workdir: Path
    port: int = field(default_factory=free_port)
    user: str = field(default_factory=getpass.getuser)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def identity(self) -> Path:
        return self.workdir / "client_key"

    @property
    def remote_tmp(self) -> Path:
        """$TMPDIR of every ssh session (sshd's SetEnv), so tests can see what a deployment leaves behind."""
        return self.workdir / "remote-tmp"

    @property
    def target(self) -> str:
        return f"{self.user}@127.0.0.1"

    def ssh_options(self) -> list[str]:
        """deploy.sh arguments that reach this server with the throwaway key and no known_hosts file."""
        return [
            "--port", str(self.port),
            "--identity", str(self.identity),
            "--ssh-option", "StrictHostKeyChecking=no",
            "--ssh-option", "UserKnownHostsFile=/dev/null",
            "--ssh-option", "LogLevel=ERROR",
        ]  # fmt: skip

    def start(self) -> SshServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.remote_tmp.mkdir(exist_ok=True)
        host_key = keygen(self.workdir / "host_key")
        keygen(self.identity)
        auth = self.workdir / "authorized_keys"
        auth.write_text(Path(f"{self.identity}.pub").read_text())
        auth.chmod(0o600)
        config = self.workdir / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"ListenAddress 127.0.0.1:{self.port}",
                    f"HostKey {host_key}",
                    f"PidFile {self.workdir / 'sshd.pid'}",
                    f"AuthorizedKeysFile {auth}",
                    "PermitRootLogin prohibit-password",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "StrictModes no",
                    "UsePAM no",
                    f"AllowUsers {self.user}",
                    "Subsystem sftp internal-sftp",
                    "LogLevel ERROR",
                    f"SetEnv TMPDIR={self.remote_tmp}",
                    *self._helper_paths(),
                    "",
                ]
            )
        )
        if os.geteuid() == 0:
            # sshd refuses to start without its privilege-separation directory (normally made by the service).
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.proc = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / "sshd.log").open("wb"),
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited at start: {(self.workdir / 'sshd.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"sshd did not listen on 127.0.0.1:{self.port} within 10 s")

    @staticmethod
    def _helper_paths() -> list[str]:
        """OpenSSH 9.8+ runs sshd-session (10.0+: sshd-auth) from a compiled-in path; an unpacked sshd's are
        beside it instead."""
        lib = SSHD.parent.parent / "lib/openssh"
        helpers = (("SshdSessionPath", "sshd-session"), ("SshdAuthPath", "sshd-auth"))
        return [f"{key} {lib / name}" for key, name in helpers if (lib / name).exists()]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
