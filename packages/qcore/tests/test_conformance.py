"""Every built-in qcore solver passes the conformance suite."""

from qcore.testing import SamplerConformance


class TestExact(SamplerConformance):
    solver_name = "exact"
    heuristic = False
    max_variables = 24


class TestSimulatedAnnealing(SamplerConformance):
    solver_name = "sa"


class TestTabu(SamplerConformance):
    solver_name = "tabu"
    solver_kwargs = {"num_reads": 2}


class TestSteepestDescent(SamplerConformance):
    solver_name = "descent"
    solver_kwargs = {"num_reads": 50}
    supports_time_limit = False
