"""The broadcaster: gRPC FlagSyncService streaming each environment's definitions to SDKs (docs/sync.md)."""
