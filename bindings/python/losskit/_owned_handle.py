"""The lifetime of an lk_loss handle owned by a Python object (Loss, Mix): one place for it."""

from __future__ import annotations

import threading

from ._library import LossHandle, library


class OwnedHandle:
    """Owns one lk_loss handle: released by close(), a ``with`` block, or garbage collection."""

    def __init__(self) -> None:
        self._handle: LossHandle | None = None  # first: __del__ runs even when a subclass __init__ fails
        self._lock = threading.Lock()

    def _live_handle(self) -> LossHandle:
        """The handle; ValueError once closed."""
        if self._handle is None:
            raise ValueError(f"this {type(self).__name__} is closed")
        return self._handle

    @property
    def closed(self) -> bool:
        """Whether the handle has been released."""
        return self._handle is None

    def close(self) -> None:
        """Release the library's handle (idempotent). Using a closed object raises ValueError."""
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is not None:
            library().lk_loss_destroy(handle)

    def __enter__(self):  # noqa: ANN204 - returns the subclass
        """The object itself; leaving the block closes it."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the handle."""
        self.close()

    def __del__(self) -> None:
        """Release the handle when the object is collected (close() does it deterministically)."""
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library or this module may be gone
            pass
