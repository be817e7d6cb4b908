"""Figures in one style (matplotlib, Agg backend)."""

from phenomena.report.curves import error_and_norm_figure as error_and_norm_figure
from phenomena.report.style import PALETTE as PALETTE
from phenomena.report.style import save as save
from phenomena.report.style import subplots as subplots
