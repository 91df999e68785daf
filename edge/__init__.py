"""`stitchd edge`: definitions of a few environments held close to applications (docs/edge.md)."""
