"""The learned mode: unfolded solvers as trainable, interpretable recurrent networks.

- :mod:`~sparserec.learned.network`: the soft-threshold recurrent network with given
  weights, its forward pass and hand-written backpropagation (numba kernels).
- :mod:`~sparserec.learned.sista_rnn`: the SISTA-RNN, whose weights are functions of a
  dictionary, a transition, a step and two penalties; its gradients and :func:`train`.
- :mod:`~sparserec.learned.generic_rnn`: the same graph with free weights, a baseline.
- :mod:`~sparserec.learned.stacked_rnn`: a conventional stacked RNN, the authors' generic-RNN
  baseline.
- :mod:`~sparserec.learned.lista` and :mod:`~sparserec.learned.lamp`: LISTA and LAMP, ISTA
  and AMP unfolded into one-shot networks; :mod:`~sparserec.learned.unfolded` trains them,
  end to end or layer by layer.
- :mod:`~sparserec.learned.training` and :mod:`~sparserec.learned.optimizers`: the one
  guarded training loop of every model, RMSprop and Adam.
- :mod:`~sparserec.learned.interpret`: a trained SISTA-RNN's parameters by name, and plots.

The scikit-learn faces are :class:`sparserec.SISTARegressor`,
:class:`sparserec.LISTARegressor` and :class:`sparserec.LAMPRegressor`.
"""

from .generic_rnn import GenericRNNParams
from .interpret import learned_parameters, plot_learned
from .lamp import LAMPParams
from .lista import LISTAParams
from .network import Weights, forward_weights, loss_and_weight_grads
from .optimizers import Adam, RMSprop, clip_by_norm, make_optimizer
from .sista_rnn import (LEARNABLE, SISTAParams, check_learn, effective_weights, forward,
                        loss_and_grad, train)
from .stacked_rnn import StackedRNNParams
from .training import (TrainingResult, TrainingStoppedWarning, train_layerwise, train_loop,
                       validation_score)

__all__ = ["SISTAParams", "LEARNABLE", "check_learn", "effective_weights", "forward",
           "loss_and_grad", "train", "Weights", "forward_weights", "loss_and_weight_grads",
           "GenericRNNParams", "StackedRNNParams", "LISTAParams", "LAMPParams",
           "TrainingResult", "TrainingStoppedWarning", "train_loop", "train_layerwise",
           "validation_score",
           "RMSprop", "Adam", "make_optimizer", "clip_by_norm", "learned_parameters",
           "plot_learned"]
