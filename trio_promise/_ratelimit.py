"""PLACEHOLDER: being written (issue 8)."""
from __future__ import annotations

class RateLimiter: pass
class RateLimiterStatistics: pass
