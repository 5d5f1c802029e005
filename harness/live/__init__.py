"""The live suite's library: a Prometheus HTTP API client, the live gates' PromQL, the canary judge, the watch."""
