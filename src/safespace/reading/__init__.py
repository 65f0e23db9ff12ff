"""How a reader meets a message: content warnings, topics, filters and blocks."""
