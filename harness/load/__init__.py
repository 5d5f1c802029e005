"""The load suite's library: profiles, the Locust runner, result parsing, history and regression.

Nothing here imports Locust: Locust only ever runs in its own process (harness.load.runner).
"""
