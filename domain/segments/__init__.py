"""Segments: rule segments (a condition) and list segments (included / excluded context keys)."""
