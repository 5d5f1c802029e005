"""AI Orchestra reference service: the default system under test for the rollout harness."""
