"""Errors a caller can show to a user as they are (bad data, missing model, unsupported method)."""

from __future__ import annotations


class LocalTrainingError(Exception):
    """Base class: the message is meant for the user; no stack trace needed."""


class DatasetError(LocalTrainingError):
    def __init__(self, path: str, line: int, message: str) -> None:
        self.path = path
        self.line = line
        super().__init__(f"{path}, line {line}: {message}")


class ModelNotFoundError(LocalTrainingError):
    pass


class UnsupportedMethodError(LocalTrainingError):
    pass
