"""The one error type of the model build: a message for the user that names the file or value and the fix."""

from __future__ import annotations


class ModelBuildError(Exception):
    """A model build step failed; the message says which file or setting and what to do."""
