"""Every built-in qcore solver passes the conformance suite."""

from qcore.registry import get_solver
from qcore.testing import SamplerConformance, dimod_kit


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
    # auto's budget is work at nominal rates (reproducible), so its wall time follows the
    # machine's load, plus worker start-up and numba's cache load (docs/qcore.md, "auto")
    time_limit_slack = 5.0


# dimod's own kit (load_sampler_bqm_tests + assert_sampler_api), empty models included
TestDimodKitExact = dimod_kit(lambda: get_solver("exact"), "exact")
TestDimodKitSA = dimod_kit(lambda: get_solver("sa"), "sa")
TestDimodKitTabu = dimod_kit(lambda: get_solver("tabu"), "tabu")
TestDimodKitDescent = dimod_kit(lambda: get_solver("descent"), "descent")
TestDimodKitSB = dimod_kit(lambda: get_solver("sb"), "sb")
TestDimodKitAuto = dimod_kit(lambda: get_solver("auto"), "auto")
TestDimodKitDecompose = dimod_kit(lambda: get_solver("decompose"), "decompose")
