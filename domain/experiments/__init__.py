"""Experiments: DRAFT -> ACTIVE <-> PAUSED -> CONCLUDED, one iteration per activation."""
