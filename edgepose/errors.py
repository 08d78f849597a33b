"""The one base of edgepose's exceptions, and the exit statuses (sysexits.h) they map to.

Every exception class of the package derives from `EdgeposeError` and carries the `exit_status` that the command
line (edgepose/cli.py, the only place that turns an exception into a process exit status) returns for it. A
raise site can give another status for one instance (`ModelError("...", exit_status=EXIT_UNAVAILABLE)`). This
module imports nothing, so that every layer can use it.
"""

from __future__ import annotations

# Exit statuses, shared by every command and by the systemd unit's RestartPreventExitStatus.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 64
EXIT_DATAERR = 65
EXIT_NOINPUT = 66
EXIT_UNAVAILABLE = 69
EXIT_SOFTWARE = 70
EXIT_CONFIG = 78


class EdgeposeError(Exception):
    """An error with a message for the user (printed without a traceback) and the exit status it maps to."""

    exit_status: int = EXIT_SOFTWARE

    def __init__(self, *args: object, exit_status: int | None = None) -> None:
        super().__init__(*args)
        if exit_status is not None:
            self.exit_status = exit_status


class CommandError(EdgeposeError):
    """An error of one command, with the message for the user and the exit status it says."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message, exit_status=status)

    @property
    def status(self) -> int:
        return self.exit_status
