"""The deployment guide's feature-flag semantics, checked user by user against GET /features.

flags.semantics.* judge the probe flags the suite configures itself (so it knows their allowlist and
percentage exactly); flags.phase_rollout judges the service's own flags against the shares the policy's
phase declares (harness/policy.toml `flags = { v2_api = 25 }`).
"""

from __future__ import annotations

import pytest

from harness.checks import not_applicable
from harness.flags import PROBE, PROBE_OFF, PROBE_PCT, PROBE_STEPS, complete, is_enabled, probe_configs, share
from harness.plugins.target import harness_settings
from harness.policy import load_policy
from harness.suites import available_suites

NEEDS_OWN = (
    "the probe flags are set in the reference app's flag service (Redis), which only a stack the harness "
    "started exposes"
)


def _probes(flag_run) -> None:
    if not flag_run.probes:
        not_applicable(NEEDS_OWN)
    complete(flag_run.main, "GET /features")


def _say(bad: list[str], what: str) -> None:
    assert not bad, f"{len(bad)} {what}; first: " + "; ".join(bad[:3])


@pytest.mark.check("flags.semantics.allowlist")
def test_allowlisted_users_are_always_on(flag_run, coverage):
    _probes(flag_run)
    reported = flag_run.main.reported
    coverage(users=len(flag_run.allowlisted))
    bad = [u for u in flag_run.allowlisted if not reported[u].get(PROBE)]
    _say(bad, f"allowlisted user(s) off for {PROBE} (enabled, {PROBE_PCT} %, their buckets >= 90)")


@pytest.mark.check("flags.semantics.disabled")
def test_a_disabled_flag_is_off_for_everyone(flag_run, coverage):
    _probes(flag_run)
    reported = flag_run.main.reported
    coverage(users=len(reported))
    bad = [u for u, flags in reported.items() if flags.get(PROBE_OFF, True)]
    _say(bad, f"user(s) with {PROBE_OFF} on or missing (disabled, 100 %, allowlisted ones included)")


@pytest.mark.check("flags.semantics.bucketing")
def test_buckets_follow_the_guides_md5_formula_user_by_user(flag_run, coverage):
    _probes(flag_run)
    config = probe_configs(PROBE_PCT, flag_run.allowlisted)[PROBE]
    reported = flag_run.main.reported
    coverage(users=len(flag_run.users))
    bad = [
        f"{u}: service {reported[u].get(PROBE)}, guide {is_enabled(config, PROBE, u)}"
        for u in flag_run.users
        if reported[u].get(PROBE) != is_enabled(config, PROBE, u)
    ]
    _say(bad, f"user(s) whose {PROBE} value differs from md5(flag + user_id) % 100 < {PROBE_PCT}")


@pytest.mark.check("flags.semantics.share")
def test_the_enabled_share_matches_the_rollout_percentage(flag_run, measure, coverage):
    _probes(flag_run)
    got = share(flag_run.main.reported, PROBE, exclude=flag_run.allowlisted)
    assert got is not None, f"no user reported {PROBE}"
    coverage(users=len(flag_run.users))
    measure(flags_probe_share_pct=got)
    tol = flag_run.options.tolerance_pp
    assert abs(got - PROBE_PCT) <= tol, f"{PROBE} is on for {got:.2f} % of users, not {PROBE_PCT} +/- {tol} %"


@pytest.mark.check("flags.semantics.monotonic")
def test_a_user_on_at_a_percentage_stays_on_at_every_higher_one(flag_run, coverage):
    _probes(flag_run)
    for pct in PROBE_STEPS:
        complete(flag_run.steps[pct], f"GET /features at {PROBE} = {pct} %")
    on = {pct: {u for u, f in flag_run.steps[pct].reported.items() if f.get(PROBE)} for pct in PROBE_STEPS}
    coverage(users=len(flag_run.steps[PROBE_STEPS[0]].reported))
    bad = []
    for low, high in zip(PROBE_STEPS, PROBE_STEPS[1:], strict=False):
        dropped = on[low] - on[high]
        if dropped:
            bad.append(f"{len(dropped)} user(s) on at {low} % are off at {high} % (e.g. {sorted(dropped)[0]})")
    _say(bad, "step(s) where users fell out of the rollout")


@pytest.mark.check("flags.phase_rollout")
def test_the_phase_rollout_matches_the_policy(flag_run, pytestconfig, measure, coverage):
    settings = harness_settings(pytestconfig)
    phase = load_policy(settings.policy_file, suites=available_suites(settings.suites_dir)).phase(settings.phase)
    expected = phase.expected_flags
    if not expected:
        not_applicable(f"phase {phase.name} declares no flag percentages (policy: flags = {{ name = pct }})")
    complete(flag_run.main, "GET /features")
    tol = flag_run.options.tolerance_pp
    coverage(users=len(flag_run.users), flags=len(expected))
    bad = []
    for flag, pct in sorted(expected.items()):
        got = share(flag_run.main.reported, flag, exclude=flag_run.allowlisted)
        if got is None:
            bad.append(f"{flag}: not reported by GET /features")
            continue
        measure(**{f"flags_{flag}_share_pct": got})
        if abs(got - pct) > tol:
            bad.append(f"{flag} on for {got:.2f} % of users; phase {phase.name} expects {pct} +/- {tol} %")
    _say(bad, f"flag(s) off the phase's rollout (phase {phase.name})")


@pytest.mark.check("flags.sample")
def test_the_sample_is_complete_and_bounded(flag_run, measure, coverage):
    s = flag_run.main
    measure(flags_sample_s=s.seconds, flags_users=len(s.reported))
    coverage(users=len(s.reported))
    complete(s, "GET /features")
