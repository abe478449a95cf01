"""The learned mode: unfolded solvers as trainable, interpretable networks.

Every network implements one protocol (:class:`~sparserec.learned.base.Network`: its
parameters as one record, which are trainable, positive or per layer, its input kind, its
forward pass, its hand-written loss and gradients, its constraints) and is trained by one
trainer, :func:`train`. :data:`NETWORKS` lists them by name:

- 'sista-rnn' (:mod:`~sparserec.learned.sista_rnn`): the SISTA-RNN, whose weights are
  functions of a dictionary, a transition, a step and two penalties, over the recurrent
  network of :mod:`~sparserec.learned.network`;
- 'generic-rnn' (:mod:`~sparserec.learned.generic_rnn`): the same graph with free weights,
  and 'stacked-rnn' (:mod:`~sparserec.learned.stacked_rnn`), a conventional stacked RNN:
  the SISTA-RNN paper's baselines;
- 'lista' (:mod:`~sparserec.learned.lista`) and 'lamp' (:mod:`~sparserec.learned.lamp`):
  ISTA and AMP unfolded into one-shot networks;
- 'lista-cpss' (:mod:`~sparserec.learned.lista_cpss`): LISTA with coupled weights and
  support selection, and 'alista' (:mod:`~sparserec.learned.alista`), its analytic-weight
  form, with two trained numbers per layer.

:mod:`~sparserec.learned.training` and :mod:`~sparserec.learned.optimizers` hold the
trainer, its loop, RMSprop and Adam; :mod:`~sparserec.learned.interpret` a trained
network's per-layer thresholds and steps, a SISTA-RNN's parameters by name, and plots.
The scikit-learn faces are in :mod:`sparserec.estimators`.
"""

from .alista import ALISTA, ALISTAParams
from .base import Network
from .generic_rnn import GenericRNN, GenericRNNParams
from .interpret import learned_parameters, per_layer, plot_layers, plot_learned
from .lamp import LAMP, LAMPParams
from .lista import LISTA, LISTAParams
from .lista_cpss import LISTACPSS, LISTACPSSParams
from .network import Weights, forward_weights, loss_and_weight_grads
from .optimizers import Adam, RMSprop, clip_by_norm, make_optimizer
from .sista_rnn import (LEARNABLE, PAPER_SETTINGS, SISTARNN, SISTAParams, check_learn,
                        effective_weights, forward, loss_and_grad)
from .stacked_rnn import StackedRNN, StackedRNNParams
from .training import (TrainingResult, TrainingStoppedWarning, UnstableModelWarning, train,
                       train_loop)

#: Every network of the learned mode, by name: its class (a
#: :class:`~sparserec.learned.base.Network`).
NETWORKS = {cls.name: cls for cls in (SISTARNN, GenericRNN, StackedRNN, LISTA, LAMP, ALISTA,
                                      LISTACPSS)}

__all__ = ["NETWORKS", "Network", "SISTARNN", "GenericRNN", "StackedRNN", "LISTA", "LAMP",
           "ALISTA", "LISTACPSS", "SISTAParams", "LEARNABLE", "PAPER_SETTINGS", "check_learn",
           "effective_weights", "forward", "loss_and_grad", "Weights", "forward_weights",
           "loss_and_weight_grads", "GenericRNNParams", "StackedRNNParams", "LISTAParams",
           "LAMPParams", "ALISTAParams", "LISTACPSSParams", "TrainingResult",
           "TrainingStoppedWarning", "UnstableModelWarning", "train", "train_loop", "RMSprop",
           "Adam", "make_optimizer", "clip_by_norm", "learned_parameters", "per_layer",
           "plot_layers", "plot_learned"]
