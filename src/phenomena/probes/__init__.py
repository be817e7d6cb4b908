"""Probes: pure measurements on (model, data) or (features, labels).

A probe never trains and never writes files; it takes explicit generators for anything random. Probes that take
a model share conventions: ``loss_fn(outputs, targets)`` is a mean over the batch; ``batches`` is one
``(inputs, targets)`` pair or a list of them (the data set's loss is their example-weighted mean); ``params``
restricts to a subset of parameters by name. The user's model is never modified.
"""

from __future__ import annotations

import importlib

# public name -> (module, attribute); imported on first use, so importing one probe does not pull in the
# dependencies of all of them (scipy.sparse.linalg, torch.func, ...)
_EXPORTS = {
    "activation_matching": ("phenomena.probes.permutation", "activation_matching"),
    "Barrier": ("phenomena.probes.connectivity", "Barrier"),
    "barrier_heights": ("phenomena.probes.connectivity", "barrier_heights"),
    "bin_codes": ("phenomena.probes.information", "bin_codes"),
    "binned_information": ("phenomena.probes.information", "binned_information"),
    "cka": ("phenomena.probes.similarity", "cka"),
    "cka_matrix": ("phenomena.probes.similarity", "cka_matrix"),
    "CKAMatrix": ("phenomena.probes.similarity", "CKAMatrix"),
    "CollapseAccumulator": ("phenomena.probes.collapse", "CollapseAccumulator"),
    "classifier_cosines": ("phenomena.probes.collapse", "classifier_cosines"),
    "CurvatureOperator": ("phenomena.probes._operators", "CurvatureOperator"),
    "effective_rank": ("phenomena.probes.rank", "effective_rank"),
    "EigenResult": ("phenomena.probes.hessian", "EigenResult"),
    "empirical_nngp": ("phenomena.probes.ntk", "empirical_nngp"),
    "empirical_ntk": ("phenomena.probes.ntk", "empirical_ntk"),
    "fourier_ipr": ("phenomena.probes.fourier", "fourier_ipr"),
    "ggn_operator": ("phenomena.probes._operators", "ggn_operator"),
    "hessian_density": ("phenomena.probes.hessian", "hessian_density"),
    "hessian_eigenvalues": ("phenomena.probes.hessian", "hessian_eigenvalues"),
    "hessian_operator": ("phenomena.probes._operators", "hessian_operator"),
    "hessian_trace": ("phenomena.probes.hessian", "hessian_trace"),
    "hessian_vector_product": ("phenomena.probes._operators", "hessian_vector_product"),
    "interpolate": ("phenomena.probes.landscape", "interpolate"),
    "Interpolation": ("phenomena.probes.landscape", "Interpolation"),
    "interpolation_barrier": ("phenomena.probes.connectivity", "interpolation_barrier"),
    "kde_information": ("phenomena.probes.information", "kde_information"),
    "kernel_alignment": ("phenomena.probes.ntk", "kernel_alignment"),
    "kernel_distance": ("phenomena.probes.ntk", "kernel_distance"),
    "kernel_relative_change": ("phenomena.probes.ntk", "kernel_relative_change"),
    "kernel_velocity": ("phenomena.probes.ntk", "kernel_velocity"),
    "linearize": ("phenomena.probes.linearization", "linearize"),
    "LinearizedModel": ("phenomena.probes.linearization", "LinearizedModel"),
    "loss_slice": ("phenomena.probes.landscape", "loss_slice"),
    "LossSlice": ("phenomena.probes.landscape", "LossSlice"),
    "Matching": ("phenomena.probes.permutation", "Matching"),
    "MinibatchCKA": ("phenomena.probes.similarity", "MinibatchCKA"),
    "mse_decomposition": ("phenomena.probes.collapse", "mse_decomposition"),
    "neural_collapse": ("phenomena.probes.collapse", "neural_collapse"),
    "neural_collapse_from_batches": ("phenomena.probes.collapse", "neural_collapse_from_batches"),
    "normalize_direction": ("phenomena.probes.landscape", "normalize_direction"),
    "participation_ratio": ("phenomena.probes.rank", "participation_ratio"),
    "permutation_spec": ("phenomena.probes.permutation", "permutation_spec"),
    "PermutationGroup": ("phenomena.probes.permutation", "PermutationGroup"),
    "permute": ("phenomena.probes.permutation", "permute"),
    "random_direction": ("phenomena.probes.landscape", "random_direction"),
    "random_permutation": ("phenomena.probes.permutation", "random_permutation"),
    "reset_batchnorm": ("phenomena.probes.connectivity", "reset_batchnorm"),
    "SpectralDensity": ("phenomena.probes.hessian", "SpectralDensity"),
    "TraceEstimate": ("phenomena.probes.hessian", "TraceEstimate"),
    "weight_matching": ("phenomena.probes.permutation", "weight_matching"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        module, attr = _EXPORTS[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value  # cache: later lookups are plain attribute reads
        return value
    raise AttributeError(f"module 'phenomena.probes' has no attribute {name!r}")


def __dir__():
    return __all__
