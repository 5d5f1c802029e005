"""Root conftest: the harness's pytest plugins, for the validation suites and the project's own tests."""

pytest_plugins = ["harness.plugins.target", "harness.plugins.evidence", "harness.plugins.deadline"]
