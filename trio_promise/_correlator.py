"""PLACEHOLDER: being written (issue 5)."""
from __future__ import annotations

class Correlator: pass
