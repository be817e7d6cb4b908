"""Analysis: statistics of measured curves and closed-form fits, none of which looks inside a network.

- :mod:`curves` - :func:`bump` (the most prominent interior bump of a curve: where a double-descent peak is and
  how far it rises over both sides), :func:`peak` (where a curve is largest), :func:`first_below` (where it
  first drops below a level), :func:`fold` (how many times apart two sizes are) and :func:`log_steps`
  (log-spaced read-out steps, 0 first). A curve holding a non-finite value (a diverged run) has no peak, bump
  or crossing: they return None / nan rather than read the rest of the curve.
- :mod:`least_squares` - minimum-norm and ridge least squares (:func:`min_norm_fit`, :func:`ridge_fit`), the
  exact trajectory of gradient descent on least squares (:func:`gd_least_squares`), random ReLU features
  (:func:`relu_feature_weights`, :func:`relu_features`) and the geometric grid of sizes around a threshold
  (:func:`feature_counts`).

Unlike :mod:`phenomena.probes`, nothing here takes a model; this layer imports only numpy, scipy, torch and
:mod:`phenomena.errors`, so any entry, probe or benchmark may use it.

Example:
    >>> from phenomena.analysis import bump
    >>> bump([0.5, 0.3, 0.45, 0.2])  # (index, excess over the best earlier value, excess over the last)
    (2, 0.15000000000000002, 0.25)
"""

from phenomena.analysis.curves import bump, first_below, fold, log_steps, peak
from phenomena.analysis.least_squares import (
    feature_counts,
    gd_least_squares,
    min_norm_fit,
    relu_feature_weights,
    relu_features,
    ridge_fit,
)

__all__ = [
    "bump",
    "feature_counts",
    "first_below",
    "fold",
    "gd_least_squares",
    "log_steps",
    "min_norm_fit",
    "peak",
    "relu_feature_weights",
    "relu_features",
    "ridge_fit",
]
