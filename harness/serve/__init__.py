"""`harness serve`: the gate as an HTTP service for Argo Rollouts, Flagger and CI (see app.py)."""
