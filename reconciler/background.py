"""One call made in a daemon thread while the caller does other work (reading ahead).

A daemon thread, not an executor's: a Ctrl-C or an error in the caller must not wait for the
call's read timeout before the process can end, and a result nobody asks for is simply dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Ahead(Generic[T]):
    def __init__(self, call: Callable[[], T], name: str = "mmctl-ahead") -> None:
        self._done = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None
        threading.Thread(target=self._run, args=(call,), daemon=True, name=name).start()

    def _run(self, call: Callable[[], T]) -> None:
        try:
            self._value = call()
        except BaseException as exc:  # handed to the caller, raised in its thread
            self._error = exc
        finally:
            self._done.set()

    def result(self) -> T:
        """The call's value, waiting for it; its exception, raised here."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # set whenever no error was
