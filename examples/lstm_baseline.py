"""The black-box baseline of the SISTA-RNN paper: a stacked LSTM, in PyTorch (CPU).

Not part of the library (which never imports torch): ``pip install 'sparserec[baselines]'``
installs the pinned ``torch==2.13.0``. Used by ``examples/reproduce_paper.py``.

The network reads the measurements ``x_t`` (M) and writes the signal ``y_hat_t`` (N)
through a linear layer on the last LSTM's state: 4 x 128 units, as in the paper. The
authors built it in Keras 1; ``init='keras'`` gives it Keras's initialisation (Glorot
uniform input weights, orthogonal recurrent weights, forget-gate bias 1, per gate), and
their optimiser is RMSprop (decay 0.9) at 1e-4 with the gradient's norm clipped at 1.
"""

import time
from dataclasses import dataclass, field

import numpy as np

try:
    import torch
    from torch import nn
except ModuleNotFoundError:
    raise SystemExit("examples/lstm_baseline.py needs PyTorch: pip install "
                     "'sparserec[baselines]'") from None


class StackedLSTM(nn.Module):
    """``n_layers`` stacked LSTMs of ``hidden`` units and a linear read-out; ``init``
    'torch' (PyTorch's default) or 'keras'."""

    def __init__(self, n_inputs, n_outputs, hidden=128, n_layers=4, init="torch"):
        super().__init__()
        self.lstm = nn.LSTM(n_inputs, hidden, num_layers=n_layers, batch_first=True)
        self.readout = nn.Linear(hidden, n_outputs)
        if init == "keras":
            with torch.no_grad():
                for name, value in self.lstm.named_parameters():
                    gates = value.view(4, hidden, -1) if value.dim() == 2 else value.view(4, -1)
                    for gate in gates:  # torch's gate order: input, forget, cell, output
                        if name.startswith("weight_ih"):
                            nn.init.xavier_uniform_(gate)
                        elif name.startswith("weight_hh"):
                            nn.init.orthogonal_(gate)
                        else:
                            gate.zero_()
                    if name.startswith("bias_ih"):
                        gates[1].fill_(1.0)
                nn.init.xavier_uniform_(self.readout.weight)
                self.readout.bias.zero_()

    def forward(self, x):
        return self.readout(self.lstm(x)[0])

    @property
    def n_parameters(self):
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


@dataclass
class LSTMResult:
    """The trained LSTM (best validation epoch) and its learning curves."""

    model: StackedLSTM
    loss_curve: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    initial_score: float = None
    train_seconds: list = field(default_factory=list)
    best_epoch: int = 0
    n_epochs: int = 0

    def predict(self, X, batch_size=200):
        """Reconstructions of measurement sequences X (n, T, M), as float64 (n, T, N)."""
        self.model.eval()
        with torch.no_grad():
            return np.concatenate([
                self.model(torch.as_tensor(X[i:i + batch_size], dtype=torch.float32))
                .numpy().astype(np.float64) for i in range(0, len(X), batch_size)])


def train_lstm(X, Y, X_val, Y_val, *, hidden=128, n_layers=4, learning_rate=1e-3,
               batch_size=50, max_epochs=100, max_seconds=None, score=None, threads=1,
               clip_norm=None, init="torch", random_state=0, clock=time.process_time,
               callback=None, verbose=False):
    """Train a stacked LSTM with RMSprop (decay 0.9) on the mean squared error.

    Parameters
    ----------
    X, Y : ndarrays of shape (n, T, M) and (n, T, N)
    X_val, Y_val : ndarrays
        Validation sequences; the epoch with the best ``score`` is kept.
    hidden, n_layers : int, default=128, 4
    learning_rate : float, default=1e-3
    batch_size : int, default=50
    max_epochs : int, default=100
    max_seconds : float, optional
        Stop after the epoch during which the training time (validation excluded) reached
        this budget.
    score : callable, optional
        ``score(Y_val, Y_hat)``, higher is better; default minus the MSE.
    threads : int, default=1
        Torch's intra-op threads (one, as the BLAS of the numba networks in the example).
    clip_norm : float, optional
        Clip the gradient's norm to this value (the authors': 1).
    init : {'torch', 'keras'}, default='torch'
        The initialisation (see :class:`StackedLSTM`).
    random_state : int, default=0
    clock : callable, default=time.process_time
        The clock of the training time (CPU time of this process by default).
    callback : callable, optional
        ``callback(result)`` after every epoch.
    verbose : bool, default=False

    Returns
    -------
    LSTMResult
    """
    torch.manual_seed(random_state)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(random_state)
    score = score or (lambda y, y_hat: -float(np.mean((y - y_hat) ** 2)))
    model = StackedLSTM(X.shape[2], Y.shape[2], hidden, n_layers, init)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=learning_rate, alpha=0.9)
    Xt = torch.as_tensor(X, dtype=torch.float32)
    Yt = torch.as_tensor(Y, dtype=torch.float32)
    result = LSTMResult(model=model)
    best = result.initial_score = score(Y_val, result.predict(X_val))
    best_state, elapsed = None, 0.0
    for epoch in range(1, max_epochs + 1):
        start = clock()
        model.train()
        losses = []
        order = torch.as_tensor(rng.permutation(len(X)))
        for first in range(0, len(X), batch_size):
            batch = order[first:first + batch_size]
            optimizer.zero_grad()
            loss = torch.mean((model(Xt[batch]) - Yt[batch]) ** 2)
            loss.backward()
            if clip_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
            optimizer.step()
            losses.append(loss.item())
        elapsed += clock() - start
        result.loss_curve.append(float(np.mean(losses)))
        result.train_seconds.append(elapsed)
        value = score(Y_val, result.predict(X_val))
        result.validation_scores.append(value)
        if value > best:
            best, result.best_epoch = value, epoch
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        result.n_epochs = epoch
        if callback is not None:
            callback(result)
        if verbose:
            print(f"LSTM epoch {epoch:3d}  loss {result.loss_curve[-1]:.5g}  "
                  f"validation {value:8.3f}  {elapsed:7.1f} s", flush=True)
        if max_seconds is not None and elapsed >= max_seconds:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return result
