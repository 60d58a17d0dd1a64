"""The exception raised for every refused call, library-side or caught early on the Python side."""

from __future__ import annotations

from ._library import LibraryError, Status, library

__all__ = ["LossKitError", "LibraryError", "raise_for_status"]


def _status_name(status: int) -> str:
    return library().lk_status_string(status).decode("utf-8", "replace")


class LossKitError(ValueError):
    """A losskit call was refused.

    Attributes:
        status: the lk_status code (compare with ``losskit.Status``).
        status_name: the library's short description of the status.
        message: what was wrong and what was expected.
    """

    def __init__(self, status: int, message: str) -> None:
        self.status = int(status)
        self.status_name = _status_name(self.status)
        self.message = message
        super().__init__(f"{message} ({self.status_name}, status {self.status})")


def raise_for_status(status: int) -> None:
    """Raise LossKitError with the library's message when ``status`` is not LK_OK.

    Call it right after the failed call, on the same thread: the message is
    per-thread and replaced by the next losskit call.
    """
    if status != Status.OK:
        message = library().lk_last_error_message().decode("utf-8", "replace")
        raise LossKitError(status, message)
