"""PLACEHOLDER: being written (issue 4)."""
from __future__ import annotations
from typing import Any

def spawn(*a: Any) -> Any: raise NotImplementedError
