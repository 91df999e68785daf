"""Event definitions: the metric keys (and their value types) an environment accepts."""
