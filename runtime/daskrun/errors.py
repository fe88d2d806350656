"""Outcomes of a run and their exit codes (the chart's podFailurePolicy is built from them)."""

from __future__ import annotations

from typing import Any

EXIT_OK = 0
EXIT_FUNCTION_FAILED = 1
EXIT_BAD_CONFIG = 2  # bad config, or launcher setup failed: nothing was started
EXIT_NOT_STORED = 3
EXIT_CLUSTER_FAILED = 4
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C), 128 + 2 as shells report it
EXIT_TERMINATED = 143  # SIGTERM, 128 + 15


class RunError(Exception):
    exit_code = EXIT_FUNCTION_FAILED


class FunctionFailed(RunError):
    exit_code = EXIT_FUNCTION_FAILED


class ResultNotStored(RunError):
    """Storing failed; the whole result was printed to the log and is kept in `.result`."""

    exit_code = EXIT_NOT_STORED

    def __init__(self, message: str, result: Any):
        super().__init__(message)
        self.result = result
