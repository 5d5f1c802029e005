"""The load suite's pure parts: Locust CSV parsing, profile validation, history and regression, safety."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.load.history import append_record, baseline, compare, read_records
from harness.load.profiles import DEFAULT_PROFILES, Regression, load_options, parse_duration
from harness.load.results import read_stats, summarize, summarize_files
from harness.load.runner import LoadRefused, check_allowed, is_loopback

HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,"
    "Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
)


def write_run(tmp_path, rows: list[str], failures: list[str] | None = None):
    (tmp_path / "locust_stats.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    if failures is not None:
        lines = ["Method,Name,Error,Occurrences,First Seen,Last Seen", *failures]
        (tmp_path / "locust_failures.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "locust"


CLEAN = [
    "GET,GET /health,3933,0,27,32.2,0.9,232.3,106.0,324.1,0.0,27,33,39,44,64,87,120,130,220,230,230",
    "POST,POST /chat/v2/chat,8270,4,26,31.4,1.5,211.9,134.0,681.5,0.3,26,32,37,41,59,85,120,140,190,210,210",
    "WS,chat (streamed),685,0,43,42.0,1.0,137.0,80.0,57.9,0.0,43,47,48,50,54,63,81,100,140,140,140",
    "WS,connect,690,5,4,6.0,1.0,70.0,0.0,58.3,0.4,4,5,6,6,8,13,48,54,70,70,70",
    "WS,ping,685,0,1,1.0,0.0,13.0,30.0,57.9,0.0,1,2,2,3,3,4,6,7,13,13,13",
    ",Aggregated,14263,9,27,31.0,0.0,232.3,110.0,1179.7,0.7,27,33,38,42,60,86,120,130,200,230,230",
]


def test_clean_run_gives_every_measurement(tmp_path):
    summary = summarize_files(write_run(tmp_path, CLEAN, []), min_requests=200)
    assert summary.missing is None
    m = summary.measurements
    assert m["p95_ms"] == 87  # the slowest endpoint's P95, not the aggregate's 86
    assert (m["p50_ms"], m["p99_ms"]) == (43, 140)
    assert (m["aggregate_p50_ms"], m["aggregate_p95_ms"], m["aggregate_p99_ms"]) == (27, 86, 130)
    assert m["error_ratio"] == pytest.approx(9 / 14263, rel=1e-5)
    assert m["rps"] == pytest.approx(1179.7)
    assert m["http_rps"] == pytest.approx(324.1 + 681.5)
    assert m["ws_connect_ratio"] == pytest.approx(685 / 690, rel=1e-5)
    assert (m["requests"], m["failures"], m["unanswered"]) == (14263, 9, 0)
    assert [e.label for e in summary.endpoints][:2] == ["GET GET /health", "POST POST /chat/v2/chat"]
    assert summary.coverage == {"requests": 14263, "websocket_sessions": 690}  # connects tried, failed ones too
    assert summary.to_dict()["coverage"] == summary.coverage


def test_a_run_without_websocket_traffic_covers_no_sessions(tmp_path):
    rows = [
        CLEAN[0],
        CLEAN[1],
        ",Aggregated,12203,4,27,31.0,0.0,232.3,110.0,1005.6,0.3,27,33,38,42,60,86,120,130,200,230,230",
    ]
    summary = summarize_files(write_run(tmp_path, rows, []), min_requests=200)
    assert summary.coverage == {"requests": 12203, "websocket_sessions": 0}


def test_a_slow_endpoint_is_not_hidden_by_a_fast_mix(tmp_path):
    rows = [
        "GET,GET /health,9000,0,5,6,1,30,100,900,0,5,5,6,6,7,8,10,12,20,30,30",
        "POST,POST /chat/v2/chat,300,0,2500,2500,2500,2600,100,30,0," + ",".join(["2500"] * 5 + ["2600"] * 6),
        ",Aggregated,9300,0,5,85,1,2600,100,930,0,5,5,6,6,8,12,2500,2500,2600,2600,2600",
    ]
    m = summarize_files(write_run(tmp_path, rows), min_requests=200).measurements
    assert m["aggregate_p95_ms"] == 12
    assert m["p95_ms"] == 2600


def test_no_requests_and_too_few_requests_are_missing(tmp_path):
    empty = [",Aggregated,0,0,0,0,0,0,0,0,0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A"]
    assert summarize_files(write_run(tmp_path, empty), 1).missing == "the load run made no requests"
    few = summarize_files(write_run(tmp_path, CLEAN), min_requests=20000)
    assert few.measurements == {}
    assert "only 14263 requests, fewer than the minimum sample of 20000" in few.missing


def test_a_target_that_answered_nothing_is_missing_not_a_failure(tmp_path):
    rows = [
        "GET,GET /health,500,500,5,5,2,29,0,40,40,5,5,5,6,6,7,10,18,25,29,30",
        "WS,connect,100,100,5,5,2,29,0,10,10,5,5,5,6,6,7,10,18,25,29,29",
        ",Aggregated,600,600,5,5,2,29,0,50,50,5,5,5,6,6,7,10,18,25,29,30",
    ]
    failures = [
        "GET,GET /health,CatchResponseError('no answer: ConnectionRefusedError'),500,x,y",
        "WS,connect,NoAnswer('no answer: ConnectionResetError'),100,x,y",
    ]
    summary = summarize_files(write_run(tmp_path, rows, failures), min_requests=10)
    assert summary.measurements == {}
    assert summary.missing.startswith("the target answered none of 600 requests")
    assert "drops every connection" in summary.missing


def test_answered_failures_are_measured(tmp_path):
    failures = ["POST,POST /chat/v2/chat,CatchResponseError('HTTP 500'),4,x,y"]
    summary = summarize_files(write_run(tmp_path, CLEAN, failures), min_requests=10)
    assert summary.missing is None and summary.measurements["unanswered"] == 0
    assert summary.to_dict()["failures"][0]["error"] == "CatchResponseError('HTTP 500')"


def test_missing_or_unreadable_stats_are_missing(tmp_path):
    assert "wrote no statistics" in summarize_files(tmp_path / "locust", 1).missing
    (tmp_path / "locust_stats.csv").write_text("Type,Name\nGET,x\n")
    assert "unreadable" in summarize_files(tmp_path / "locust", 1).missing


def test_read_stats_separates_the_aggregated_row(tmp_path):
    rows, total = read_stats(write_run(tmp_path, CLEAN).parent / "locust_stats.csv")
    assert len(rows) == 5 and total is not None and total.requests == 14263
    assert summarize(rows, None, [], 1).missing == "the load run made no requests"


# -- profiles ------------------------------------------------------------------------------------


ROOT = Path(__file__).resolve().parents[2]


def opts(table=None, phase="internal", env=None, tmp_path=None):
    return load_options(table or {}, phase=phase, root=tmp_path or ROOT, env=env or {})


def test_the_default_profile_follows_the_phase_then_smoke():
    assert opts(phase="internal").profile == DEFAULT_PROFILES["internal"]
    assert opts(phase="nightly").profile.name == "nightly"
    assert opts(phase="canary-10").profile.name == "smoke"
    assert opts({"profile": "nightly"}).profile.name == "nightly"
    assert opts({"profile": "nightly"}, env={"HARNESS_LOAD_PROFILE": "smoke"}).profile.name == "smoke"


def test_the_guides_run_is_the_internal_profile():
    p = DEFAULT_PROFILES["internal"]
    assert (p.users, p.duration_s) == (100, 300)  # k6 run --vus 100 --duration 5m
    assert p.cap_s == 300 + 100 / 20 + 10 + 15 + 30  # duration + spawn + stop timeout + safety margins
    assert p.user_classes == ["ChatUser", "HealthUser", "WebSocketUser"]


def test_profiles_merge_from_config_and_environment():
    table = {
        "profiles": {
            "smoke": {"users": 10, "weights": {"chat": 1, "health": 0, "websocket": 0}, "wait_s": [0.1, 0.5]},
            "soak": {"duration_s": "2h", "time_cap_s": "2h5m"},
        }
    }
    smoke = opts(table, phase="beta").profile
    assert (smoke.users, smoke.user_classes, smoke.wait_s) == (10, ["ChatUser"], (0.1, 0.5))
    assert smoke.plan()["weights"] == {"chat": 1, "health": 0, "websocket": 0}
    soak = opts({**table, "profile": "soak"}).profile
    assert (soak.duration_s, soak.cap_s, soak.users) == (7200, 7500, 40)  # a new profile starts from smoke
    env = {"HARNESS_LOAD_USERS": "7", "HARNESS_LOAD_DURATION_S": "90s", "HARNESS_LOAD_WORKERS": "3"}
    p = opts(table, phase="beta", env=env).profile
    assert (p.users, p.duration_s, p.workers) == (7, 90, 3)


@pytest.mark.parametrize(
    ("table", "env", "message"),
    [
        ({"profil": "x"}, {}, "unknown key 'profil' (did you mean 'profile'?)"),
        ({"profile": "nightlly"}, {}, "unknown load profile 'nightlly' (did you mean 'nightly'?)"),
        ({"profiles": {"smoke": {"userz": 3}}}, {}, "[tool.harness.load.profiles.smoke]: unknown key 'userz'"),
        ({"profiles": {"smoke": {"users": 0}}}, {}, "users = 0 must be >= 1"),
        ({"profiles": {"smoke": {"users": "many"}}}, {}, "users = 'many' is not a valid int"),
        ({"profiles": {"smoke": {"duration_s": "soon"}}}, {}, "is not a duration"),
        ({"profiles": {"smoke": {"weights": {"chats": 1}}}}, {}, "unknown traffic 'chats' (did you mean 'chat'?)"),
        ({"profiles": {"smoke": {"weights": {"chat": 0}}}}, {}, "at least one weight must be > 0"),
        ({"profiles": {"smoke": {"users": 2}}}, {}, "users = 2 is fewer than the 3 kinds of traffic"),
        ({"profiles": {"smoke": {"wait_s": [2, 1]}}}, {}, "max is below min"),
        ({"profiles": {"smoke": {"processes": 0}}}, {}, "use -1 (one per core) or a positive count"),
        ({"profiles": {"smoke": {"workers": 2, "processes": 2}}}, {}, "set workers (distributed) or processes"),
        ({"regression": {"window": 2, "min_runs": 3}}, {}, "min_runs = 3 is larger than window = 2"),
        ({"regression": {"margn": 0.1}}, {}, "unknown key 'margn' (did you mean 'margin'?)"),
        ({}, {"HARNESS_LOAD_USERS": "-3"}, "environment HARNESS_LOAD_* users = '-3' must be >= 1"),
    ],
)
def test_bad_load_config_is_one_clear_line(table, env, message):
    with pytest.raises(ConfigError) as err:
        opts(table, phase="beta", env=env)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_durations():
    assert [parse_duration(v, "d") for v in (30, "30", "30s", "5m", "1h30m", "1.5m")] == [30, 30, 30, 300, 5400, 90]
    for bad in ("", "5x", -1, 0, True):
        with pytest.raises(ConfigError):
            parse_duration(bad, "d")


def test_paths_safety_and_history_switches_come_from_env(tmp_path):
    with pytest.raises(ConfigError, match="locustfile .* does not exist"):
        opts(tmp_path=tmp_path)
    (tmp_path / "tests/load").mkdir(parents=True)
    (tmp_path / "tests/load/locustfile.py").write_text("")
    o = opts(tmp_path=tmp_path)
    assert o.history_file == tmp_path / "reports/history/load.jsonl"
    assert o.locustfile == tmp_path / "tests/load/locustfile.py"
    assert (o.allow_remote, o.record_history) == (False, False)
    env = {"HARNESS_ALLOW_REMOTE_LOAD": "1", "HARNESS_LOAD_HISTORY": "yes", "HARNESS_LOAD_HISTORY_FILE": "/h.jsonl"}
    o = opts(env=env, tmp_path=tmp_path)
    assert (o.allow_remote, o.record_history, str(o.history_file)) == (True, True, "/h.jsonl")


# -- safety --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://127.3.4.5", True),
        ("http://localhost:1", True),
        ("http://[::1]:8000", True),
        ("https://staging.example.com", False),
        ("http://10.0.0.5:8000", False),
        ("http://127.0.0.1.example.com", False),
        ("http://127.8.9.10", True),
        ("http://LOCALHOST", True),
        ("http://orchestra.staging.example", False),
    ],
)
def test_loopback_is_recognised_without_dns(url, loopback):
    assert is_loopback(url) is loopback


def test_remote_load_is_refused_unless_allowed_or_ephemeral():
    with pytest.raises(LoadRefused) as err:
        check_allowed("https://staging.example.com", ephemeral=False, allow_remote=False)
    assert "--allow-remote-load" in str(err.value) and "not loopback" in str(err.value)
    assert err.value.exit_code == 64
    check_allowed("https://staging.example.com", ephemeral=False, allow_remote=True)
    check_allowed("http://172.17.0.2:8000", ephemeral=True, allow_remote=False)
    check_allowed("http://127.0.0.1:8000", ephemeral=False, allow_remote=False)


# -- history and regression ----------------------------------------------------------------------


def rec(p95, rps=1200.0, good=True, profile="nightly"):
    return {"profile": profile, "good": good, "metrics": {"p95_ms": p95, "rps": rps}}


def test_history_appends_whole_lines_and_skips_bad_ones(tmp_path):
    path = tmp_path / "history" / "load.jsonl"
    append_record(path, rec(100))
    with path.open("a") as fh:
        fh.write("not json\n" + json.dumps({"schema": "other"}) + "\n")
    append_record(path, rec(110))
    records, bad = read_records(path)
    assert [r["metrics"]["p95_ms"] for r in records] == [100, 110] and bad == 2
    assert read_records(tmp_path / "absent.jsonl") == ([], 0)


def test_baseline_is_the_last_good_runs_of_the_same_profile():
    records = [rec(1), rec(2, good=False), rec(3, profile="smoke"), rec(4), rec(5), rec(6)]
    assert [r["metrics"]["p95_ms"] for r in baseline(records, "nightly", 3)] == [4, 5, 6]


def test_regression_needs_both_the_margin_and_the_noise_band():
    reg = Regression(window=5, min_runs=3, margin=0.2)
    quiet = [rec(100), rec(101), rec(99), rec(100), rec(100)]
    (p95, rps) = compare({"p95_ms": 125.0, "rps": 1150.0}, quiet, reg)
    assert p95.regressed and p95.median == 100 and p95.limit == 120
    assert not rps.regressed
    text = p95.describe("nightly")
    assert "125 ms tonight vs median 100 ms of the last 5 good nightly runs (+25.0%" in text
    assert "worse than the limit 120 ms" in text
    noisy = [rec(60), rec(140), rec(100), rec(70), rec(130)]  # MAD 30 -> band 133 ms > 20 %
    assert not compare({"p95_ms": 125.0}, noisy, reg)[0].regressed
    assert compare({"p95_ms": 240.0}, noisy, reg)[0].regressed


def test_lower_throughput_is_a_regression_and_too_little_history_is_none():
    reg = Regression(window=5, min_runs=3, margin=0.1)
    runs = [rec(100, 1000), rec(100, 1010), rec(100, 990)]
    rps = next(c for c in compare({"rps": 850.0}, runs, reg) if c.metric == "rps")
    assert rps.regressed and rps.limit == 900
    assert compare({"p95_ms": 500.0}, runs[:2], reg) == []


def test_locustfile_is_never_imported_here():
    import sys

    assert "locust" not in sys.modules, "import locust monkey-patches gevent and breaks requests in this process"


# -- the reference app's load faults -------------------------------------------------------------


def test_numeric_faults_take_a_value_and_plain_ones_do_not():
    from app.faults import Faults, parse_faults

    names = parse_faults("slow_chat, chat_delay_ms = 250 ,chat_errors_1pct")
    assert names == {"slow_chat", "chat_delay_ms=250", "chat_errors_1pct"}
    faults = Faults.of(names)
    assert faults.active("chat_delay_ms") and faults.value("chat_delay_ms") == 250.0
    assert faults.active("slow_chat") and not faults.active("chat_5xx")
    assert Faults.of(parse_faults("chat_delay_ms=0.5")).value("chat_delay_ms") == 0.5
    assert not Faults().active("chat_delay_ms") and Faults().value("chat_delay_ms") is None
    for bad, message in [
        ("chat_delay_ms", "needs a value"),
        ("chat_delay_ms=soon", "needs a number"),
        ("chat_delay_ms=-5", "needs a number"),
        ("slow_chat=3", "takes no value"),
        ("chat_delay=250", "unknown fault(s) chat_delay"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            parse_faults(bad)


def test_the_error_ratio_names_the_endpoints_and_statuses_behind_it(tmp_path):
    from harness.load.results import Endpoint, Failure, LoadSummary, error_sources, error_sources_of

    def ep(method, name, requests, failures):
        return Endpoint(method, name, requests, failures, 10.0, 5.0, 9.0, 4.0, 8.0, 9.0)

    summary = LoadSummary(
        endpoints=[ep("GET", "/api/accounts", 400, 196), ep("GET", "/api/rates", 300, 0), ep("GET", "/healthz", 10, 2)],
        failures=[
            Failure("GET", "/api/accounts", "HTTPError('500 Server Error: Internal Server Error')", 190),
            Failure("GET", "/api/accounts", "HTTPError('503 Server Error')", 6),
            Failure("GET", "/healthz", "no answer: ConnectionResetError(104, 'reset by peer')", 2),
        ],
    )
    csv_path = tmp_path / "elsewhere" / "load" / "locust_failures.csv"
    line = error_sources(summary, csv_path)
    assert line.startswith("GET /api/accounts: 196 of 400 failed (49 %), HTTP 500 x 190, HTTP 503 x 6; GET /healthz: 2")
    assert "no answer: ConnectionResetError" in line and f"(Locust's failures: {csv_path})" in line
    assert error_sources(LoadSummary(endpoints=summary.endpoints)) == ""
    assert error_sources_of(summary.to_dict()) == error_sources(summary)


# -- the generators' honesty (harness.load.results.judge_generators; documents as the locustfile writes them) ----
def _gen(name, role="worker", cpu=(20.0,), ran=(20.0,), waited=(10.0,), **extra):
    samples = [[2.0 + i, c] for i, c in enumerate(cpu)]
    waits = [[2.0 + i, r, w] for i, (r, w) in enumerate(zip(ran, waited, strict=True))]
    return {"name": name, "role": role, "host": "h", "pid": 40 + len(name), "samples": samples, "waits": waits, **extra}


def _doc(*gens, asked=20, reached=20, steady=1.0, ended=30.0, token="", expected=0):
    return {
        "users_asked": asked,
        "users_reached": reached,
        "steady_at_s": steady,
        "ended_at_s": ended,
        "token": token,
        "expected_workers": expected,
        "generators": list(gens),
    }


def test_generators_clean_run_is_judged():
    from harness.load.results import judge_generators

    missing, limited, record = judge_generators(_doc(_gen("worker 1"), _gen("worker 2"), _gen("master", "master")))
    assert (missing, limited) == (None, None)
    assert [g["cpu_max"] for g in record["generators"]] == [20.0, 20.0, 20.0]
    assert record["users_reached"] == record["users_asked"] == 20


def test_a_generator_above_locusts_cpu_threshold_leaves_throughput_unjudged():
    from harness.load.results import GENERATOR_LIMIT, judge_generators

    hot = _gen("worker 2", cpu=(40.0, 97.0, 60.0), ran=(40, 95, 60), waited=(0, 0, 0))
    missing, limited, _ = judge_generators(_doc(_gen("worker 1"), hot))
    assert missing is None
    assert limited.startswith(GENERATOR_LIMIT) and "worker 2: CPU 97 %" in limited and "worker 1" not in limited


def test_a_sample_outside_the_judged_window_does_not_count():
    from harness.load.results import judge_generators

    spiky = _gen("local", "local", cpu=(99.0, 20.0), ran=(99.0, 20.0), waited=(0, 0))  # t=2 (spawning), t=3
    assert judge_generators(_doc(spiky, steady=2.5))[:2] == (None, None)
    assert "local: CPU 99 %" in judge_generators(_doc(spiky, steady=1.0))[1]


def test_a_starved_generator_reads_idle_but_waits_for_a_cpu():
    """A CPU quota or a crowded core: psutil shows 10 %, the scheduler shows it runnable ~90 % of the time."""
    from harness.load.results import judge_generators

    starved = _gen("local", "local", cpu=(10.0, 10.0), ran=(10.0, 9.9), waited=(84.0, 83.0))
    missing, limited, _ = judge_generators(_doc(starved))
    assert missing is None and "local: CPU 10 %, waiting for a CPU 84 % of the time" in limited
    # starved from the middle of the window on (a quota applied while it ran): the later samples decide
    late = _gen("local", "local", cpu=(30.0,) * 6, ran=(30, 30, 30, 4, 3, 3), waited=(20, 20, 20, 95, 96, 96))
    assert "local: CPU 4 %, waiting for a CPU 95 % of the time" in judge_generators(_doc(late))[1]
    busy_machine = _gen("local", "local", cpu=(15.0, 15.0), ran=(15.0, 15.0), waited=(35.0, 50.0))
    assert judge_generators(_doc(busy_machine))[:2] == (None, None)  # it waited, and still had time to spare
    # one crowded 2 s sample on a box the service shares is no starvation: the window's mean decides
    burst = _gen("local", "local", cpu=(16.0,) * 4, ran=(16.0,) * 4, waited=(78.0, 40.0, 30.0, 50.0))
    assert judge_generators(_doc(burst))[:2] == (None, None)


def test_users_that_never_reached_the_profile_leave_throughput_unjudged():
    from harness.load.results import judge_generators

    assert (
        "the users never reached the profile's 100: at most 64 ran"
        in judge_generators(_doc(_gen("local", "local"), asked=100, reached=64))[1]
    )
    assert "none ran" in judge_generators(_doc(_gen("local", "local"), asked=100, reached=0, steady=None))[1]


def test_a_worker_gone_missing_makes_the_whole_run_missing_naming_it():
    from harness.load.results import judge_generators

    lost = _gen("worker 2", missing_at_s=12.4, label="ns-w2")
    missing, limited, _ = judge_generators(_doc(_gen("worker 1"), lost, expected=2))
    assert limited is None
    assert missing.startswith("worker 2 (ns-w2, h, pid 48) stopped sending heartbeats 12 s into the run")
    left = _gen("worker 1", left_at_s=5.0)
    assert "worker 1 (h, pid 48) left the run 5 s in" in judge_generators(_doc(left))[0]
    assert "only 1 of the 2 expected" in judge_generators(_doc(_gen("worker 1"), expected=2))[0]


def test_a_worker_with_another_token_makes_the_run_missing():
    from harness.load.results import judge_generators

    doc = _doc(_gen("worker 1", token="aaaa"), _gen("worker 2", token=""), token="aaaa")
    assert "worker 2 (h, pid 48) holds no HARNESS_LOAD_TOKEN or another one" in judge_generators(doc)[0]
    assert judge_generators(_doc(_gen("worker 1", token="aaaa"), token="aaaa"))[0] is None


def test_no_cpu_reading_or_no_document_is_not_a_clean_bill(tmp_path):
    from harness.load.results import UNTOLD, apply_generators, judge_generators

    blind = _gen("worker 1", cpu=(), ran=(), waited=())
    assert judge_generators(_doc(blind))[1] == f"{UNTOLD}: no CPU reading from worker 1 in the judged window"
    summary = apply_generators(summarize_files(write_run(tmp_path, CLEAN), 1), None)
    assert summary.missing is None and summary.limited.startswith(UNTOLD)


def test_apply_generators_missing_outranks_limited(tmp_path):
    from harness.load.results import apply_generators

    prefix = write_run(tmp_path, CLEAN)
    lost = _doc(_gen("worker 2", cpu=(99.0,), missing_at_s=3.0))
    s = apply_generators(summarize_files(prefix, 100), lost)
    assert s.missing.startswith("worker 2") and s.limited is None
    s = apply_generators(summarize_files(prefix, 100), _doc(_gen("local", "local", cpu=(97.0,))))
    assert s.missing is None and "local: CPU 97 %" in s.limited and s.measurements["rps"] == 1179.7
    assert s.to_dict()["limited"] == s.limited


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"expect_workers": 2}, "needs --master-bind"),
        ({"master_bind": "0.0.0.0:5557"}, "needs --expect-workers"),
        ({"master_bind": "0.0.0.0:99999", "expect_workers": 2}, "the port must be 1-65535"),
        ({"master_bind": "a b", "expect_workers": 2}, "is not HOST or HOST:PORT"),
        ({"master_bind": "0.0.0.0", "expect_workers": 1001}, "at most 1000 workers"),
        ({"master_bind": "0.0.0.0", "expect_workers": -1}, "must be >= 0"),
    ],
)
def test_distributed_options_are_checked_together(tmp_path, flags, message):
    (tmp_path / "tests/load").mkdir(parents=True)
    (tmp_path / "tests/load/locustfile.py").write_text("")
    with pytest.raises(ConfigError, match=message):
        load_options({}, phase="load", root=tmp_path, env={}, flags=flags)


def test_distributed_options_reach_the_master_argv(tmp_path):
    from harness.load.runner import LocustRunner

    (tmp_path / "tests/load").mkdir(parents=True)
    (tmp_path / "tests/load/locustfile.py").write_text("")
    flags = {"master_bind": "198.18.0.2", "expect_workers": 3}
    o = load_options({}, phase="load", root=tmp_path, env={"HARNESS_LOAD_EXPECT_WORKERS_WAIT_S": "90"}, flags=flags)
    assert (o.master.host, o.master.port, o.master.expect_workers, o.master.wait_s) == ("198.18.0.2", 5557, 3, 90.0)
    argv = LocustRunner(o.profile, "http://x", locustfile=o.locustfile, out_dir=tmp_path, master=o.master).master_argv(
        o.master.port
    )
    at = {k: argv[argv.index(k) + 1] for k in ("--master-bind-host", "--master-bind-port", "--expect-workers")}
    assert at == {"--master-bind-host": "198.18.0.2", "--master-bind-port": "5557", "--expect-workers": "3"}
    assert "--master" in argv and argv[argv.index("--expect-workers-max-wait") + 1] == "90"


# -- the failure ratios of a run whose generator was the limit (harness.load.results.judged_when_limited) ---------
HOT = _doc(_gen("local", "local", cpu=(97.0,)))
NO_ANSWER_ROWS = ["POST,POST /chat/v2/chat,no answer: ReadTimeout,7,0,0", "WS,connect,no answer: TimeoutError,5,0,0"]


def _stats(chat: int, connect: int) -> list[str]:
    """CLEAN with `chat` failed chat requests and `connect` failed WebSocket connects (the Aggregated row agrees)."""
    rows = [r.replace("8270,4,", f"8270,{chat},").replace("690,5,", f"690,{connect},") for r in CLEAN]
    return [r.replace("14263,9,", f"14263,{chat + connect},") for r in rows]


def _limited(tmp_path, failures, chat=7, connect=5, doc=HOT):
    from harness.load.results import apply_generators

    return apply_generators(summarize_files(write_run(tmp_path, _stats(chat, connect), failures), 100), doc).to_dict()


def test_a_limited_generator_still_has_its_http_errors_judged(tmp_path):
    """The service's own answers count whatever the generator's CPU: the ratio stays, throughput and latency go."""
    from harness.load.results import judged_when_limited

    summary = _limited(tmp_path, ["POST,POST /chat/v2/chat,HTTP 500,7,0,0", "WS,connect,HTTP 503,5,0,0"])
    kept, withheld = judged_when_limited(summary)
    assert withheld == {}
    assert kept["error_ratio"] == pytest.approx(12 / 14263, rel=1e-3) and kept["ws_connect_ratio"] < 1
    assert not {"rps", "http_rps", "p95_ms", "aggregate_p95_ms"} & kept.keys()


def test_unanswered_failures_of_a_limited_generator_withhold_the_ratios(tmp_path):
    from harness.load.results import GENERATOR_LIMIT, judged_when_limited

    kept, withheld = judged_when_limited(_limited(tmp_path, NO_ANSWER_ROWS))
    assert not {"error_ratio", "ws_connect_ratio"} & kept.keys() and kept["requests"] == 14263
    why = withheld["error_ratio"]
    assert why.startswith(GENERATOR_LIMIT) and "local: CPU 97 %" in why
    assert "12 of the 12 failed requests got no answer" in why and "answered 0 of the 14263" in why
    assert "5 WebSocket connects got no answer" in withheld["ws_connect_ratio"]
    # only chat requests went unanswered, the connects failed with an answer: the connect ratio stays judged
    kept, withheld = judged_when_limited(_limited(tmp_path, [NO_ANSWER_ROWS[0], "WS,connect,HTTP 503,5,0,0"]))
    assert set(withheld) == {"error_ratio"} and kept["ws_connect_ratio"] < 1
    assert "7 of the 12 failed requests got no answer" in withheld["error_ratio"]


def test_unanswered_failures_without_a_limited_generator_are_the_services(tmp_path):
    from harness.load.results import judged_when_limited

    kept, withheld = judged_when_limited(_limited(tmp_path, NO_ANSWER_ROWS, doc=_doc(_gen("local", "local"))))
    assert withheld == {} and kept["error_ratio"] == pytest.approx(12 / 14263, rel=1e-3)
    assert kept["ws_connect_ratio"] < 1 and not {"rps", "p95_ms"} & kept.keys()  # load.rps, load.p95_ms measure them


def test_the_gates_of_a_limited_run(tmp_path):
    """Through the verdict: the answered 5xx fail load.error_ratio (no-go); unanswered ones leave it missing."""
    from harness.evidence import Evidence
    from harness.load.results import judged_when_limited
    from harness.policy import load_policy
    from harness.verdict import evaluate

    phase = load_policy().phase("load")

    def gates(failures, chat):
        summary = _limited(tmp_path, failures, chat=chat, connect=0)
        kept, withheld = judged_when_limited(summary)
        records = [
            Evidence("load", "load.run", "passed", measurements=kept, coverage={"requests": 14263}),
            Evidence("load", "load.rps", "skipped", message=summary["limited"]),
            Evidence("load", "load.p95_ms", "skipped", message=summary["limited"]),
            Evidence("load", "load.error_ratio", "skipped", message=withheld.get("error_ratio", "the failed ...")),
        ]
        d = evaluate(phase, records, available={"load"})
        return d, {g.id: g for g in d.gates}

    d, got = gates(["POST,POST /chat/v2/chat,HTTP 500,30,0,0"], 30)  # 30 / 14263 = 0.21 %: above 0.1 %
    assert got["load.error_ratio"].status == "fail" and d.verdict == "no-go"
    assert got["load.rps"].status == got["load.p95_ms"].status == "missing"
    timeouts = "POST,POST /chat/v2/chat,no answer: ReadTimeout,10,0,0"
    d, got = gates(["POST,POST /chat/v2/chat,HTTP 500,20,0,0", timeouts], 30)
    assert got["load.error_ratio"].status == "missing" and d.verdict == "inconclusive"
    assert "a starved generator can cause itself" in got["load.error_ratio"].reason
