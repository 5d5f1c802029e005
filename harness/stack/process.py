"""Moved to harness/process.py (one process-supervision module for the stacks, the suites and Locust);
re-exported here for the code that imports it from the stack package."""

from __future__ import annotations

from harness.process import Service, die_with_parent, log_tail, stop_group

__all__ = ["Service", "die_with_parent", "log_tail", "stop_group"]
