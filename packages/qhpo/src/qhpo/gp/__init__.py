"""Our Gaussian process: Matern 5/2 ARD, MAP hyperparameters, output warping, log-EI."""

from qhpo.gp.acquisition import LogEI, log_ei, log_ei_and_grad, optimize_acquisition
from qhpo.gp.fantasy import FantasyLogEI
from qhpo.gp.model import GaussianProcess, matern52
from qhpo.gp.warping import OutputWarp

__all__ = [
    "FantasyLogEI",
    "GaussianProcess",
    "LogEI",
    "OutputWarp",
    "log_ei",
    "log_ei_and_grad",
    "matern52",
    "optimize_acquisition",
]
