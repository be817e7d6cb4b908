"""Probes: pure measurements on (model, data) or (features, labels).

A probe never trains and never writes files; it takes explicit generators for anything random. Probes that take
a model share conventions, all implemented once in ``phenomena.probes.core``: ``loss_fn(outputs, targets)`` is a
mean over the batch; ``batches`` is one ``(inputs, targets)`` pair or a list of them (the data set's loss is
their example-weighted mean, see ``as_batches``); ``params`` restricts to a subset of the trainable parameters,
in one of the ``ParamFilter`` forms accepted by every probe: None (all), a parameter name (``"fc1.weight"``) or
module name (``"fc1"``), a module of the model (``model.fc1``), a predicate on parameter names, or an iterable of
names and modules (see ``select_params``). The user's model is never modified (probes evaluate a
``core.FunctionalModel`` snapshot of it).

Modules: ``core`` (parameter selection, data and determinism checks, the functional model), ``operators``
(matrix-free Hessian and Gauss-Newton operators), ``estimators`` (trace estimators and Lanczos on any matrix-vector
product), and one module per family of probes (``hessian``, ``landscape``, ``connectivity``, ``permutation``,
``ntk``, ``linearization``, ``similarity``, ``collapse``, ``rank``, ``information``, ``fourier``, ``measures``
(the generalization measures of Jiang et al. 2020 and Dziugaite et al. 2020), ``forgetting`` (Toneva et al.'s
example-forgetting statistics), ``gradient_noise`` (McCandlish et al.'s gradient noise scale),
``gradient_subspace`` (the gradient's share in the top Hessian eigenspace, Gur-Ari et al. 2018),
``weight_spectra`` (per-layer eigenvalue spectra, power-law tails and Marchenko-Pastur fits, Martin & Mahoney 2021),
``dormant`` (τ-dormant and dead units, Sokar et al. 2023)).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Each name is imported from its module on first use (PEP 562), so that ``import phenomena.probes.fourier`` does not
# load every probe and the SciPy modules some of them need: the showcase needs one probe.
_EXPORTS = {
    "collapse": (
        "CollapseAccumulator",
        "classifier_cosines",
        "mse_decomposition",
        "neural_collapse",
        "neural_collapse_from_batches",
    ),
    "connectivity": (
        "Barrier",
        "barrier_heights",
        "interpolation_barrier",
        "reset_batchnorm",
    ),
    "core": (
        "ParamFilter",
        "as_batches",
        "select_param_names",
        "select_params",
    ),
    "dormant": (
        "LayerDormancy",
        "dormancy_scores",
        "dormant_units",
    ),
    "forgetting": (
        "ForgettingTracker",
        "rank_by_forgetting",
    ),
    "fourier": ("fourier_ipr",),
    "gradient_noise": (
        "NoiseScale",
        "NoiseScaleAccumulator",
        "gradient_noise_scale",
        "gradient_noise_scale_exact",
    ),
    "gradient_subspace": (
        "GradientSubspace",
        "gradient_subspace_overlap",
        "random_subspace",
        "subspace_fraction",
        "subspace_overlap",
    ),
    "hessian": (
        "EigenResult",
        "SpectralDensity",
        "TraceEstimate",
        "hessian_density",
        "hessian_eigenvalues",
        "hessian_trace",
    ),
    "information": (
        "bin_codes",
        "binned_information",
        "kde_information",
    ),
    "landscape": (
        "Interpolation",
        "LossSlice",
        "interpolate",
        "loss_slice",
        "normalize_direction",
        "random_direction",
    ),
    "linearization": (
        "LinearizedModel",
        "linearize",
    ),
    "measures": (
        "frobenius_product",
        "generalization_measures",
        "gsnr",
        "inconsistency",
        "jacobian_norm",
        "margin_quantile",
        "margins",
        "pac_bayes_sigma",
        "path_norm",
        "spectral_product",
        "weight_matrices",
    ),
    "ntk": (
        "empirical_nngp",
        "empirical_ntk",
        "kernel_alignment",
        "kernel_distance",
        "kernel_relative_change",
        "kernel_velocity",
    ),
    "operators": (
        "CurvatureOperator",
        "ggn_operator",
        "hessian_operator",
        "hessian_vector_product",
    ),
    "permutation": (
        "Matching",
        "PermutationGroup",
        "activation_matching",
        "permutation_spec",
        "permute",
        "random_permutation",
        "weight_matching",
    ),
    "rank": (
        "effective_rank",
        "participation_ratio",
    ),
    "similarity": (
        "CKAMatrix",
        "MinibatchCKA",
        "cka",
        "cka_matrix",
    ),
    "weight_spectra": (
        "PowerLawFit",
        "WeightSpectrum",
        "fit_power_law",
        "marchenko_pastur_cdf",
        "marchenko_pastur_density",
        "weight_spectra",
        "weight_spectrum",
    ),
}
_SOURCE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_SOURCE)

# ``weight_spectra`` names both a module and its function: the first import of the module binds the package's
# attribute to the module, which __getattr__ is then never asked for, so the function is bound now (a light module)
from phenomena.probes.weight_spectra import weight_spectra as weight_spectra  # noqa: E402

if TYPE_CHECKING:  # pragma: no cover - for type checkers, IDEs and the API docs only
    from phenomena.probes.collapse import CollapseAccumulator as CollapseAccumulator
    from phenomena.probes.collapse import classifier_cosines as classifier_cosines
    from phenomena.probes.collapse import mse_decomposition as mse_decomposition
    from phenomena.probes.collapse import neural_collapse as neural_collapse
    from phenomena.probes.collapse import neural_collapse_from_batches as neural_collapse_from_batches
    from phenomena.probes.connectivity import Barrier as Barrier
    from phenomena.probes.connectivity import barrier_heights as barrier_heights
    from phenomena.probes.connectivity import interpolation_barrier as interpolation_barrier
    from phenomena.probes.connectivity import reset_batchnorm as reset_batchnorm
    from phenomena.probes.core import ParamFilter as ParamFilter
    from phenomena.probes.core import as_batches as as_batches
    from phenomena.probes.core import select_param_names as select_param_names
    from phenomena.probes.core import select_params as select_params
    from phenomena.probes.dormant import LayerDormancy as LayerDormancy
    from phenomena.probes.dormant import dormancy_scores as dormancy_scores
    from phenomena.probes.dormant import dormant_units as dormant_units
    from phenomena.probes.forgetting import ForgettingTracker as ForgettingTracker
    from phenomena.probes.forgetting import rank_by_forgetting as rank_by_forgetting
    from phenomena.probes.fourier import fourier_ipr as fourier_ipr
    from phenomena.probes.gradient_noise import NoiseScale as NoiseScale
    from phenomena.probes.gradient_noise import NoiseScaleAccumulator as NoiseScaleAccumulator
    from phenomena.probes.gradient_noise import gradient_noise_scale as gradient_noise_scale
    from phenomena.probes.gradient_noise import gradient_noise_scale_exact as gradient_noise_scale_exact
    from phenomena.probes.gradient_subspace import GradientSubspace as GradientSubspace
    from phenomena.probes.gradient_subspace import gradient_subspace_overlap as gradient_subspace_overlap
    from phenomena.probes.gradient_subspace import random_subspace as random_subspace
    from phenomena.probes.gradient_subspace import subspace_fraction as subspace_fraction
    from phenomena.probes.gradient_subspace import subspace_overlap as subspace_overlap
    from phenomena.probes.hessian import EigenResult as EigenResult
    from phenomena.probes.hessian import SpectralDensity as SpectralDensity
    from phenomena.probes.hessian import TraceEstimate as TraceEstimate
    from phenomena.probes.hessian import hessian_density as hessian_density
    from phenomena.probes.hessian import hessian_eigenvalues as hessian_eigenvalues
    from phenomena.probes.hessian import hessian_trace as hessian_trace
    from phenomena.probes.information import bin_codes as bin_codes
    from phenomena.probes.information import binned_information as binned_information
    from phenomena.probes.information import kde_information as kde_information
    from phenomena.probes.landscape import Interpolation as Interpolation
    from phenomena.probes.landscape import LossSlice as LossSlice
    from phenomena.probes.landscape import interpolate as interpolate
    from phenomena.probes.landscape import loss_slice as loss_slice
    from phenomena.probes.landscape import normalize_direction as normalize_direction
    from phenomena.probes.landscape import random_direction as random_direction
    from phenomena.probes.linearization import LinearizedModel as LinearizedModel
    from phenomena.probes.linearization import linearize as linearize
    from phenomena.probes.measures import frobenius_product as frobenius_product
    from phenomena.probes.measures import generalization_measures as generalization_measures
    from phenomena.probes.measures import gsnr as gsnr
    from phenomena.probes.measures import inconsistency as inconsistency
    from phenomena.probes.measures import jacobian_norm as jacobian_norm
    from phenomena.probes.measures import margin_quantile as margin_quantile
    from phenomena.probes.measures import margins as margins
    from phenomena.probes.measures import pac_bayes_sigma as pac_bayes_sigma
    from phenomena.probes.measures import path_norm as path_norm
    from phenomena.probes.measures import spectral_product as spectral_product
    from phenomena.probes.measures import weight_matrices as weight_matrices
    from phenomena.probes.ntk import empirical_nngp as empirical_nngp
    from phenomena.probes.ntk import empirical_ntk as empirical_ntk
    from phenomena.probes.ntk import kernel_alignment as kernel_alignment
    from phenomena.probes.ntk import kernel_distance as kernel_distance
    from phenomena.probes.ntk import kernel_relative_change as kernel_relative_change
    from phenomena.probes.ntk import kernel_velocity as kernel_velocity
    from phenomena.probes.operators import CurvatureOperator as CurvatureOperator
    from phenomena.probes.operators import ggn_operator as ggn_operator
    from phenomena.probes.operators import hessian_operator as hessian_operator
    from phenomena.probes.operators import hessian_vector_product as hessian_vector_product
    from phenomena.probes.permutation import Matching as Matching
    from phenomena.probes.permutation import PermutationGroup as PermutationGroup
    from phenomena.probes.permutation import activation_matching as activation_matching
    from phenomena.probes.permutation import permutation_spec as permutation_spec
    from phenomena.probes.permutation import permute as permute
    from phenomena.probes.permutation import random_permutation as random_permutation
    from phenomena.probes.permutation import weight_matching as weight_matching
    from phenomena.probes.rank import effective_rank as effective_rank
    from phenomena.probes.rank import participation_ratio as participation_ratio
    from phenomena.probes.similarity import CKAMatrix as CKAMatrix
    from phenomena.probes.similarity import MinibatchCKA as MinibatchCKA
    from phenomena.probes.similarity import cka as cka
    from phenomena.probes.similarity import cka_matrix as cka_matrix
    from phenomena.probes.weight_spectra import PowerLawFit as PowerLawFit
    from phenomena.probes.weight_spectra import WeightSpectrum as WeightSpectrum
    from phenomena.probes.weight_spectra import fit_power_law as fit_power_law
    from phenomena.probes.weight_spectra import marchenko_pastur_cdf as marchenko_pastur_cdf
    from phenomena.probes.weight_spectra import marchenko_pastur_density as marchenko_pastur_density
    from phenomena.probes.weight_spectra import weight_spectrum as weight_spectrum


def __getattr__(name: str):
    module = _SOURCE.get(name)
    if module is None:
        raise AttributeError(f"module 'phenomena.probes' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"phenomena.probes.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_SOURCE})
