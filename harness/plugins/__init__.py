"""pytest plugins: `target` (where the suites run against) and `evidence` (what they found)."""
