"""PLACEHOLDER: being written (issue 4)."""
from __future__ import annotations
from typing import Any

def gather(*a: Any) -> Any: raise NotImplementedError
def gather_map(*a: Any) -> Any: raise NotImplementedError
def race(*a: Any) -> Any: raise NotImplementedError
