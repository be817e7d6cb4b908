"""Analysis: statistics of measured curves and closed-form fits, none of which looks inside a network.

- :mod:`curves` - :func:`bump` (the most prominent interior bump of a curve: where a double-descent peak is and
  how far it rises over both sides), :func:`peak` (where a curve is largest), :func:`first_below` (where it
  first drops below a level), :func:`fold` (how many times apart two sizes are) and :func:`log_steps`
  (log-spaced read-out steps, 0 first). A curve holding a non-finite value (a diverged run) has no peak, bump
  or crossing: they return None / nan rather than read the rest of the curve.
- :mod:`least_squares` - minimum-norm and ridge least squares (:func:`min_norm_fit`, :func:`ridge_fit`,
  :func:`ridge_fit_svd`), the exact trajectory of gradient descent on least squares (:func:`gd_least_squares`),
  random ReLU features (:func:`relu_feature_weights`, :func:`relu_features`) and the geometric grid of sizes
  around a threshold (:func:`feature_counts`).

The implicit-bias theory, each tested against an independent computation:

- :mod:`max_margin` - :func:`hard_margin_svm` (the limit direction of logistic-loss gradient descent on separable
  data, from the SVM dual) and :func:`angle`.
- :mod:`interpolants` - :func:`min_l1_interpolant` (HiGHS), :func:`min_l2_interpolant`, the diagonal network's
  potential :func:`q_potential` and the interpolant it selects from initialization scale α,
  :func:`q_interpolant` (Woodworth et al. 2020).
- :mod:`matrix_completion` - :func:`singular_value_threshold` (the nuclear norm's prox) and
  :func:`min_nuclear_norm_completion` (ADMM with a dual certificate, :class:`NuclearNormCompletion`) and
  :func:`masked_relative_error` (a completion's error on the unobserved entries).
- :mod:`deep_linear` - Saxe et al.'s (2014) closed-form mode dynamics of a two-layer linear network:
  :func:`mode_strength`, :func:`half_learning_time`, :func:`mode_strengths`, :func:`effective_initial_strength`,
  :func:`aligned_init`.
- :mod:`lr_transfer` - the optimal learning rate of a loss-vs-lr curve (:func:`optimal_log_lr`) and its spread and
  drift across widths (:func:`optimum_spread`, :func:`optimum_drift`).

Spectral bias: :mod:`spectral` - :func:`relative_spectral_error` (per-frequency error of a function on a uniform
grid) and :func:`learning_steps` (when each frequency's error first falls below a level).

Generalization measures judged against the generalization gap: :mod:`rank_correlation` - :func:`kendall_tau`,
Jiang et al.'s granulated :func:`granulated_kendall` (Ψ) and Dziugaite et al.'s :func:`sign_error` with the
:func:`hoeffding_weight`; :func:`resampled_tau` (τ-b of many bootstrap or permutation resamples at once).

Scaling laws: :mod:`scaling` - :func:`fit_scaling_law` (L = L∞ + A·N^-α) and :func:`fit_chinchilla` (L = E + A/N^α
+ B/D^β) fitted in log space with a summed Huber loss from a grid of L-BFGS-B starts (Hoffmann et al. 2022, as
Epoch AI's replication), :func:`bootstrap_fit` (percentile intervals), :func:`extrapolation_error` and the
compute-optimal allocation :meth:`ChinchillaFit.compute_optimal`.

In-context regression baselines: :mod:`icl_baselines` - per-prompt :func:`least_squares_predictions`,
:func:`ridge_predictions`, :func:`averaging_predictions`, :func:`nearest_neighbor_predictions`, the
:func:`normalized_squared_error` and :func:`optimal_noiseless_error` max(d − k, 0)/d (Garg et al. 2022).

Critical batch size: :mod:`critical_batch` - :func:`fit_steps_vs_batch` (McCandlish et al.'s S = S_min(1 + B_crit/B)
with intervals, :class:`CriticalBatchFit`) and :func:`loglog_slope`.

Unlike :mod:`phenomena.probes`, nothing here takes a model; this layer imports only numpy, scipy, torch and
:mod:`phenomena.errors`, so any entry, probe or benchmark may use it.

Example:
    >>> from phenomena.analysis import bump
    >>> bump([0.5, 0.3, 0.45, 0.2])  # (index, excess over the best earlier value, excess over the last)
    (2, 0.15000000000000002, 0.25)
"""

from phenomena.analysis.critical_batch import CriticalBatchFit, fit_steps_vs_batch, loglog_slope
from phenomena.analysis.curves import bump, first_below, fold, log_steps, peak
from phenomena.analysis.deep_linear import (
    aligned_init,
    effective_initial_strength,
    half_learning_time,
    mode_strength,
    mode_strengths,
)
from phenomena.analysis.icl_baselines import (
    averaging_predictions,
    least_squares_predictions,
    nearest_neighbor_predictions,
    normalized_squared_error,
    optimal_noiseless_error,
    ridge_predictions,
)
from phenomena.analysis.interpolants import min_l1_interpolant, min_l2_interpolant, q_interpolant, q_potential
from phenomena.analysis.least_squares import (
    feature_counts,
    gd_least_squares,
    min_norm_fit,
    relu_feature_weights,
    relu_features,
    ridge_fit,
    ridge_fit_svd,
)
from phenomena.analysis.lr_transfer import optimal_log_lr, optimum_drift, optimum_spread
from phenomena.analysis.matrix_completion import (
    NuclearNormCompletion,
    masked_relative_error,
    min_nuclear_norm_completion,
    singular_value_threshold,
)
from phenomena.analysis.max_margin import angle, hard_margin_svm
from phenomena.analysis.rank_correlation import (
    GranulatedKendall,
    SignError,
    granulated_kendall,
    hoeffding_weight,
    kendall_tau,
    resampled_tau,
    sign_error,
)
from phenomena.analysis.scaling import (
    BootstrapFit,
    ChinchillaFit,
    Extrapolation,
    ScalingLawFit,
    bootstrap_fit,
    extrapolation_error,
    fit_chinchilla,
    fit_scaling_law,
    huber_objective,
)
from phenomena.analysis.spectral import learning_steps, relative_spectral_error

__all__ = [
    "BootstrapFit",
    "ChinchillaFit",
    "CriticalBatchFit",
    "Extrapolation",
    "GranulatedKendall",
    "NuclearNormCompletion",
    "ScalingLawFit",
    "SignError",
    "aligned_init",
    "angle",
    "averaging_predictions",
    "bootstrap_fit",
    "bump",
    "effective_initial_strength",
    "extrapolation_error",
    "feature_counts",
    "first_below",
    "fit_chinchilla",
    "fit_scaling_law",
    "fit_steps_vs_batch",
    "fold",
    "gd_least_squares",
    "granulated_kendall",
    "half_learning_time",
    "hard_margin_svm",
    "hoeffding_weight",
    "huber_objective",
    "kendall_tau",
    "learning_steps",
    "least_squares_predictions",
    "log_steps",
    "loglog_slope",
    "masked_relative_error",
    "min_l1_interpolant",
    "min_l2_interpolant",
    "min_norm_fit",
    "min_nuclear_norm_completion",
    "mode_strength",
    "mode_strengths",
    "nearest_neighbor_predictions",
    "normalized_squared_error",
    "optimal_log_lr",
    "optimal_noiseless_error",
    "optimum_drift",
    "optimum_spread",
    "peak",
    "q_interpolant",
    "q_potential",
    "relative_spectral_error",
    "relu_feature_weights",
    "relu_features",
    "resampled_tau",
    "ridge_fit",
    "ridge_fit_svd",
    "ridge_predictions",
    "sign_error",
    "singular_value_threshold",
]
