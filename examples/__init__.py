"""Example services the harness gates in its own tests (besides the reference service in app/)."""
