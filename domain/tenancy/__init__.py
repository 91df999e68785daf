"""Organisations, users and memberships, projects, environments and their SDK keys."""
