"""PLACEHOLDER: being written (issue 4)."""
from __future__ import annotations
from typing import Any

def wait_all(*a: Any) -> Any: raise NotImplementedError
def wait_settled(*a: Any) -> Any: raise NotImplementedError
def wait_any(*a: Any) -> Any: raise NotImplementedError
def as_completed(*a: Any) -> Any: raise NotImplementedError
