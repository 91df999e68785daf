"""The condition language of rules and rule segments.

- `ast`: the shared tree (And, Or, Not, Leaf over Attribute, Op).
- `codec`: the JSON encoding (the seed's rule_payload) and validation, raising ConditionError.
- `operators`: leaf semantics; `interpret.matches` the reference evaluator;
  `compiler.compile_condition` the closure form used by compiled flags.
- `segments`: the SegmentLookup port and StaticSegments; `semver`, `dates`, `regex`: value parsers.
"""
