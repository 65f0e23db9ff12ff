"""SafeSpace: private chat rooms for mental-health peer-support groups."""

__version__ = "0.1.0"
