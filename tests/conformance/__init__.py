"""Third-party conformance cases run through small adapters into our condition language."""
