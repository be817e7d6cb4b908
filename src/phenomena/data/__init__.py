"""Data sets as in-memory tensors with one schema (:class:`Dataset`): generated, shipped by a package, or read
from a local path the user gives. Nothing is downloaded."""

from phenomena.data.addition import digit_addition as digit_addition
from phenomena.data.cue_conflict import cue_conflict as cue_conflict
from phenomena.data.cue_conflict import render_cue_images as render_cue_images
from phenomena.data.cue_conflict import shape_bias as shape_bias
from phenomena.data.dataset import Dataset as Dataset
from phenomena.data.ib import ib_task as ib_task
from phenomena.data.linear_regression_prompts import Prompts as Prompts
from phenomena.data.linear_regression_prompts import linear_regression_prompts as linear_regression_prompts
from phenomena.data.low_rank import low_rank_completion as low_rank_completion
from phenomena.data.mnist import mnist as mnist
from phenomena.data.mnist1d import mnist1d as mnist1d
from phenomena.data.modular import modular_arithmetic as modular_arithmetic
from phenomena.data.noise import with_label_noise as with_label_noise
from phenomena.data.slowly_changing_regression import LTUTarget as LTUTarget
from phenomena.data.slowly_changing_regression import ltu_target as ltu_target
from phenomena.data.slowly_changing_regression import slowly_changing_regression as slowly_changing_regression
from phenomena.data.tabular import digits as digits
from phenomena.data.tabular import teacher_student as teacher_student
