"""Operability shared by every process: Prometheus metrics, health probes and the admin HTTP server."""
