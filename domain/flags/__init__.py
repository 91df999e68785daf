"""Feature flags: project-level definitions and environment-level configuration."""
