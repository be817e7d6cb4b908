"""Exact infinite-width objects: NNGP/NTK kernels, their training dynamics, and mean-field signal propagation.

- :func:`fc` - NNGP and NTK of a fully-connected network in neural-tangents' ``stax`` convention (NTK or
  standard parameterization): closed forms for relu, leaky_relu, abs, erf and identity; Hermite series with a
  2-D quadrature fallback for any other elementwise activation (tanh, gelu, sin, ... or a torch callable).
- :func:`dual` - the two Gaussian expectations E[phi(u) phi(v)], E[phi'(u) phi'(v)] that one layer needs.
- :func:`gradient_descent_mse`, :func:`gradient_descent_mse_ensemble`, :func:`max_learning_rate` - outputs of
  infinitely wide nets trained by gradient descent on MSE at any time t (neural-tangents' ``predict``).
- :func:`eigenlearning_predict`, :func:`effective_regularization`, :func:`noise_fitting_factor_curve` -
  eigenlearning (Simon et al. 2023): the effective regularization κ, learnabilities, the noise-fitting factor E₀
  and the predicted test/train MSE of kernel (ridge) regression from a spectrum and a target; E₀(n) tells benign,
  tempered and catastrophic overfitting apart (Mallinar et al. 2022).
- :func:`learning_curve_exponent`, :func:`power_law_problem`, :func:`kernel_regression_risk` - the learning-curve
  exponent of kernel regression on a power-law spectrum and target (Bordelon et al. 2020; Spigler et al. 2020), and
  the exact risk of a drawn training set, for scaling laws in data.
- :mod:`meanfield` - q-map, c-map, their fixed points, chi_1, depth scales and the edge of chaos (Poole et al.
  2016; Schoenholz et al. 2017).

Example:
    >>> import torch
    >>> from phenomena import kernels
    >>> x = torch.randn(8, 5, generator=torch.Generator().manual_seed(0))
    >>> nngp, ntk = kernels.fc(x, depth=3, activation="relu", weight_std=1.5, bias_std=0.05)
    >>> mean, _ = kernels.gradient_descent_mse_ensemble(kernels.fc(x[:6]), x[:6, 0], kernels.fc(x[6:], x[:6]))
"""

from phenomena.kernels import meanfield
from phenomena.kernels.activations import CLOSED_FORM_ACTIVATIONS, QUADRATURE_ACTIVATIONS, Activation
from phenomena.kernels.dual import dual
from phenomena.kernels.eigenlearning import (
    EigenlearningPrediction,
    effective_regularization,
    eigenlearning_predict,
    noise_fitting_factor_curve,
)
from phenomena.kernels.fc import fc
from phenomena.kernels.learning_curves import kernel_regression_risk, learning_curve_exponent, power_law_problem
from phenomena.kernels.meanfield import (
    SignalPropagation,
    c_map,
    c_star,
    chi1,
    depth_scales,
    edge_of_chaos,
    q_map,
    q_star,
    signal_propagation,
)
from phenomena.kernels.predict import gradient_descent_mse, gradient_descent_mse_ensemble, max_learning_rate

__all__ = [
    "Activation",
    "CLOSED_FORM_ACTIVATIONS",
    "EigenlearningPrediction",
    "QUADRATURE_ACTIVATIONS",
    "SignalPropagation",
    "c_map",
    "c_star",
    "chi1",
    "depth_scales",
    "dual",
    "edge_of_chaos",
    "effective_regularization",
    "eigenlearning_predict",
    "fc",
    "gradient_descent_mse",
    "gradient_descent_mse_ensemble",
    "kernel_regression_risk",
    "learning_curve_exponent",
    "max_learning_rate",
    "meanfield",
    "noise_fitting_factor_curve",
    "power_law_problem",
    "q_map",
    "q_star",
    "signal_propagation",
]
