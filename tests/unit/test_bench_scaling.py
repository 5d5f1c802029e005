"""scripts/bench_scaling.py's computations: req/s per generator core, scaling efficiency, what a box allows."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_scaling.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_scaling", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)  # imports no Locust and starts nothing: the heavy parts import lazily
    yield module
    sys.modules.pop(spec.name, None)


def test_per_core_divides_by_the_cores_the_generators_used(bench):
    assert bench.per_core(1500.0, [50.0]) == pytest.approx(3000.0)  # half a core
    assert bench.per_core(6000.0, [80.0, 70.0]) == pytest.approx(4000.0)  # two workers, 1.5 cores
    assert bench.per_core(900.0, []) is None and bench.per_core(900.0, [0.0]) is None  # no reading: no figure


def test_efficiency_is_throughput_n_over_n_times_throughput_1(bench):
    assert bench.efficiency(1, 3000.0, 3000.0) == pytest.approx(1.0)
    assert bench.efficiency(2, 5400.0, 3000.0) == pytest.approx(0.9)
    assert bench.efficiency(4, 6000.0, 3000.0) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        bench.efficiency(2, 100.0, 0.0)
    with pytest.raises(ValueError):
        bench.efficiency(0, 100.0, 100.0)


def test_the_best_efficiency_a_box_allows(bench):
    assert bench.ideal_efficiency(1, 2) == 1.0
    assert bench.ideal_efficiency(2, 2) == 1.0  # two workers, two free cores
    assert bench.ideal_efficiency(4, 2) == pytest.approx(0.5)  # four workers share two cores
    # the server and the master take 0.8 of a core: 1.2 cores left, one worker gets a whole core, four get 0.3 each
    assert bench.ideal_efficiency(2, 2, 0.8) == pytest.approx(0.6)
    assert bench.ideal_efficiency(4, 2, 0.8) == pytest.approx(0.3)
    assert bench.ideal_efficiency(2, 2, 2.5) == 0.0


def test_generator_cpu_reads_the_runs_generators_record(bench):
    record = {
        "generators": [
            {"name": "master", "role": "master", "cpu_mean": 4.0},
            {"name": "worker 1", "role": "worker", "cpu_mean": 88.5},
            {"name": "worker 2", "role": "worker", "cpu_mean": None},  # no sample in the judged window
            {"name": "worker 3", "role": "worker", "cpu_mean": 91.0},
        ]
    }
    assert bench.generator_cpu(record, ["worker"]) == [88.5, 91.0]
    assert bench.generator_cpu(record, ["master"]) == [4.0]
    assert bench.generator_cpu({}, ["local"]) == []
    assert bench.spread([2.0, 4.0, 3.0]) == "3.0 (2.0-4.0)" and bench.spread([]) == "-"
