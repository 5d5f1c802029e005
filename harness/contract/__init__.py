"""The contract suite's library: OpenAPI loading and fuzzing, breaking-change diff, PromQL lint, WS schemas."""
