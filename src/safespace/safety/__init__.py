"""Local, explainable risk detection for messages (see docs/safety.md)."""

from safespace.safety.assess import Assessment, Level, assess, normalise

__all__ = ["Assessment", "Level", "assess", "normalise"]
