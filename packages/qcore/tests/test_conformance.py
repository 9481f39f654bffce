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


class TestSimulatedBifurcationBallistic(SamplerConformance):
    solver_name = "sb"
    solver_kwargs = {"agents": 16, "max_steps": 1000}


class TestSimulatedBifurcationDiscrete(SamplerConformance):
    solver_name = "sb"
    solver_kwargs = {"agents": 16, "max_steps": 1000, "variant": "discrete"}


class TestSimulatedBifurcationTorchCPU(SamplerConformance):
    solver_name = "sb"
    solver_kwargs = {"agents": 16, "max_steps": 1000, "backend": "torch", "device": "cpu"}


class TestAuto(SamplerConformance):
    solver_name = "auto"
    solver_kwargs = {"exact_limit": 0}  # force the portfolio path even on tiny models
