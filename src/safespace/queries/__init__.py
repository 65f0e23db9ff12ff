"""Read-only fetches. Anything private is read only through a function that checks access."""
