"""Training: one small loop with callbacks; losses and optimizers by name."""

from phenomena.training.checkpoint import load_checkpoint as load_checkpoint
from phenomena.training.checkpoint import save_checkpoint as save_checkpoint
from phenomena.training.ensemble import ENSEMBLE_METHODS as ENSEMBLE_METHODS
from phenomena.training.ensemble import ENSEMBLE_METRICS as ENSEMBLE_METRICS
from phenomena.training.ensemble import EnsembleResult as EnsembleResult
from phenomena.training.ensemble import train_ensemble as train_ensemble
from phenomena.training.functional_optim import FUNCTIONAL_OPTIMIZERS as FUNCTIONAL_OPTIMIZERS
from phenomena.training.functional_optim import FunctionalOptimizer as FunctionalOptimizer
from phenomena.training.functional_optim import per_member as per_member
from phenomena.training.losses import LOSSES as LOSSES
from phenomena.training.losses import accuracy as accuracy
from phenomena.training.losses import loss_function as loss_function
from phenomena.training.optim import OPTIMIZERS as OPTIMIZERS
from phenomena.training.optim import make_optimizer as make_optimizer
from phenomena.training.optim import warmup as warmup
from phenomena.training.trainer import Callback as Callback
from phenomena.training.trainer import Every as Every
from phenomena.training.trainer import History as History
from phenomena.training.trainer import LogMetrics as LogMetrics
from phenomena.training.trainer import Progress as Progress
from phenomena.training.trainer import StopWhen as StopWhen
from phenomena.training.trainer import TrainState as TrainState
from phenomena.training.trainer import evaluate as evaluate
from phenomena.training.trainer import fit as fit
