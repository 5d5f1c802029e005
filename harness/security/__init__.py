"""The security suite's library: findings, ZAP baseline (native passive rules, a ZAP daemon, an existing
report), trivy, auth and TLS checks, waivers and new-vs-known history.

    findings.py   Finding: one record per finding (source, rule, severity, where, evidence, fingerprint)
    options.py    [tool.harness.security] + HARNESS_SECURITY_* / ZAP_API_URL / HARNESS_ZAP_REPORT / HARNESS_TRIVY_*
    rules.py      zap-baseline rules files (<id>\\t<IGNORE|INFO|WARN|FAIL>\\t(<name>)): FAIL blocks, WARN reports
    zap_report.py ZAP "traditional JSON" reports: write (native results), read (ingest), API alerts -> report
    operations.py operations of an OpenAPI document and schema-valid example requests for them
    passive.py    the native passive rules, under ZAP's plugin ids, over a bounded crawl of the target
    zap_client.py a running ZAP daemon driven with the `zaproxy` client (bounded in time)
    trivy.py      trivy config / fs / image runs and their SchemaVersion 2 JSON (of the profile's files.source)
    auth.py       protected operations and the WebSocket against no, malformed and wrong tokens (carried as
                  the service profile says), role separation with its low-privilege identity, in the run's scope
    tls.py        certificate chain, expiry and protocol version of an https target
    waivers.py    accepted risks with owner, reason and expiry
    history.py    which findings are new since the last recorded run

Nothing here decides a verdict: the suite (tests/security/) measures, the policy judges.
"""
