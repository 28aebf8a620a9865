"""Helpers that several test modules share."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Generator

T = TypeVar("T")


class Ready(Generic[T]):
    """An awaitable that is done at once: awaiting it never yields to trio."""

    def __init__(self, value: T) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, T]:
        yield from ()
        return self.value


@contextmanager
def no_cyclic_garbage() -> Generator[None]:
    """Fail if the block leaves garbage that only the collector can free."""
    gc.collect()
    gc.disable()
    try:
        yield
        assert gc.collect() == 0
    finally:
        gc.enable()
