"""Probes: pure measurements on (model, data) or (features, labels).

A probe never trains and never writes files; it takes explicit generators for anything random. Probes that take
a model share conventions: ``loss_fn(outputs, targets)`` is a mean over the batch; ``batches`` is one
``(inputs, targets)`` pair or a list of them (the data set's loss is their example-weighted mean); ``params``
restricts to a subset of parameters by name. The user's model is never modified.
"""

from phenomena.probes._operators import CurvatureOperator as CurvatureOperator
from phenomena.probes._operators import ggn_operator as ggn_operator
from phenomena.probes._operators import hessian_operator as hessian_operator
from phenomena.probes._operators import hessian_vector_product as hessian_vector_product
from phenomena.probes.collapse import CollapseAccumulator as CollapseAccumulator
from phenomena.probes.collapse import neural_collapse as neural_collapse
from phenomena.probes.collapse import neural_collapse_from_batches as neural_collapse_from_batches
from phenomena.probes.fourier import fourier_ipr as fourier_ipr
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
from phenomena.probes.linearize import LinearizedModel as LinearizedModel
from phenomena.probes.linearize import linearize as linearize
from phenomena.probes.ntk import empirical_nngp as empirical_nngp
from phenomena.probes.ntk import empirical_ntk as empirical_ntk
from phenomena.probes.ntk import kernel_alignment as kernel_alignment
from phenomena.probes.ntk import kernel_distance as kernel_distance
from phenomena.probes.ntk import kernel_relative_change as kernel_relative_change
from phenomena.probes.ntk import kernel_velocity as kernel_velocity
from phenomena.probes.rank import effective_rank as effective_rank
from phenomena.probes.rank import participation_ratio as participation_ratio
from phenomena.probes.similarity import CKAMatrix as CKAMatrix
from phenomena.probes.similarity import MinibatchCKA as MinibatchCKA
from phenomena.probes.similarity import cka as cka
from phenomena.probes.similarity import cka_matrix as cka_matrix
