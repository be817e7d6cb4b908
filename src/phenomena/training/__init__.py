"""Training: one small loop with callbacks; losses and optimizers by name."""

from phenomena.training.checkpoint import load_checkpoint as load_checkpoint
from phenomena.training.checkpoint import save_checkpoint as save_checkpoint
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
