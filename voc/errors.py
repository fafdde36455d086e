"""The VocError tree: every error a user can see, with a code, an actionable message and the
HTTP status the API maps it to (api/errors.py turns them into RFC 9457 problem+json)."""

from __future__ import annotations


class VocError(Exception):
    """Base of every error voc raises on purpose."""

    code = "voc_error"
    status = 500

    def __init__(self, message: str, **detail: object) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class ConfigError(VocError):
    """A setting, mapping file or path is wrong; the message names which and how to fix it."""

    code = "config_error"
    status = 400


class InputError(VocError):
    """A whole input file cannot be read at all (per-record problems become rejects)."""

    code = "input_error"
    status = 422


class NotFoundError(VocError):
    """A workspace, record, theme or run does not exist."""

    code = "not_found"
    status = 404


class StoreError(VocError):
    """The database is unavailable, locked or at an unexpected schema version."""

    code = "store_error"
    status = 503


class ModelUnavailableError(VocError):
    """A model cannot be loaded offline; the message says what to install or which path to set."""

    code = "model_unavailable"
    status = 503


class RunInProgressError(VocError):
    """The workspace's run lock is held: another re-cluster is queued or running (started by
    the API, `voc recluster` or the weekly worker); the message names who holds it."""

    code = "conflict"
    status = 409


class RunInterruptedError(VocError):
    """A run was declared interrupted (its process looked dead, or a shutdown's grace period
    passed) before it completed, so it may not become current."""

    code = "run_interrupted"
    status = 409
