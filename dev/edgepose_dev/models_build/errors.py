"""The one error type of the model build: a message for the user that names the file or value and the fix."""

from __future__ import annotations

from edgepose.errors import EXIT_DATAERR, EdgeposeError


class ModelBuildError(EdgeposeError):
    """A model build step failed; the message says which file or setting and what to do."""

    exit_status = EXIT_DATAERR
