"""Plain ``nn.Module`` models with explicit, seeded initialization."""

from phenomena.models.collapse_net import CollapseNet as CollapseNet
from phenomena.models.icl_transformer import ICLTransformer as ICLTransformer
from phenomena.models.layers import ACTIVATIONS as ACTIVATIONS
from phenomena.models.layers import PARAMETERIZATIONS as PARAMETERIZATIONS
from phenomena.models.layers import Activation as Activation
from phenomena.models.layers import ScaledLinear as ScaledLinear
from phenomena.models.layers import TokenLinear as TokenLinear
from phenomena.models.masked_mlp import masked_mlp as masked_mlp
from phenomena.models.masked_mlp import mlp_parameters as mlp_parameters
from phenomena.models.mlp import MLP as MLP
from phenomena.models.small_cnn import SmallCNN as SmallCNN
from phenomena.models.transformer import TinyTransformer as TinyTransformer
