"""Interpreting a trained network: its parameters by name, and pictures of what it learned.

A trained SISTA-RNN is still a SISTA solver: its weights are functions of a dictionary, a
transition, a step and two penalties (:func:`learned_parameters`, :func:`plot_learned`).
Every unfolded network keeps a solver's per-layer quantities, thresholds and step sizes,
which :func:`per_layer` and :func:`plot_layers` show for any learned estimator. Plotting
needs matplotlib (the ``plot`` extra), imported only when a plot is asked for.
"""

import numpy as np

from .sista_rnn import SISTAParams, effective_weights

__all__ = ["learned_parameters", "per_layer", "plot_layers", "plot_learned"]


def per_layer(model):
    """The interpretable quantities of every layer of a fitted learned estimator.

    What each network declares (:meth:`sparserec.learned.Network.per_layer`): for the
    SISTA-RNN its step ``1/alpha`` and threshold ``lam1/alpha``; for LISTA its thresholds
    and the norms of ``S_k``; for LAMP the parameters of its denoiser; for LISTA-CPSS its
    thresholds, the norms of ``W_k`` and the entries that support selection passes; for
    ALISTA its step sizes ``gamma_k``, thresholds and those entries.

    Parameters
    ----------
    model : LearnedRegressor (fitted)

    Returns
    -------
    dict of str to ndarray of shape (n_layers,)

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec import LISTARegressor, gaussian_matrix
    >>> from sparserec.learned import per_layer
    >>> A = gaussian_matrix(20, 40, random_state=0)
    >>> model = LISTARegressor(A, n_layers=3).fit(np.zeros((1, 20)))  # untrained: ISTA
    >>> sorted(per_layer(model))
    ['threshold', '||S_k||_2']
    """
    if not hasattr(model, "n_epochs_"):
        raise ValueError("the model is not fitted: call fit first")
    network = model._make_network()
    return {name: np.asarray(values, dtype=np.float64)
            for name, values in network.per_layer(model._params()).items()}


def plot_layers(model, figure=None):
    """Plot the interpretable quantities of every layer (:func:`per_layer`), one panel each.

    Parameters
    ----------
    model : LearnedRegressor (fitted)
    figure : matplotlib.figure.Figure, optional
        Draw into this figure (cleared); default a new one.

    Returns
    -------
    matplotlib.figure.Figure
    """
    quantities = per_layer(model)
    if not quantities:
        raise ValueError(f"{type(model).__name__} declares no per-layer quantities")
    Figure = _figure_class("plot_layers")
    figure = Figure(figsize=(3.2 * len(quantities), 2.8)) if figure is None else figure
    figure.clear()
    for ax, (name, values) in zip(figure.subplots(1, len(quantities), squeeze=False)[0],
                                  quantities.items(), strict=True):
        ax.plot(np.arange(1, len(values) + 1), values, "o-", ms=3)
        ax.set_xlabel("layer", fontsize="small")
        ax.set_title(name, fontsize="small")
        ax.tick_params(labelsize="x-small")
        ax.grid(alpha=0.3)
    figure.suptitle(f"{type(model).__name__}, {model.n_layers} layers", fontsize="small")
    figure.tight_layout()
    return figure


def _figure_class(caller):
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(f"{caller} needs matplotlib: pip install sparserec[plot]") from None
    return Figure


def learned_parameters(model, effective=False):
    """The parameters of a SISTA-RNN as named arrays.

    Parameters
    ----------
    model : SISTARegressor (fitted) or SISTAParams
    effective : bool, default=False
        Also return the effective weights of the network, ``S``, ``V``, ``W1``, ``W`` and
        ``P = D^T F D``.

    Returns
    -------
    dict of str to ndarray
        'dictionary' (N, N), 'transition' (N, N), 'measurement_matrix' (M, N), 'h0' (N,),
        'alpha', 'lam1', 'lam2' and 'threshold' (``lam1 / alpha``) as 0-d arrays; with a
        fitted estimator also 'initial_dictionary' and 'initial_transition'.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec import SISTAParams
    >>> from sparserec.learned import learned_parameters
    >>> params = SISTAParams.initial(np.eye(3)[:2], alpha=2.0, lam1=0.5)
    >>> float(learned_parameters(params)["threshold"])
    0.25
    """
    params = _params(model)
    named = {"dictionary": params.D, "transition": params.F,
             "measurement_matrix": params.A, "h0": params.h0,
             "alpha": params.alpha, "lam1": params.lam1, "lam2": params.lam2,
             "threshold": params.lam1 / params.alpha}
    if not isinstance(model, SISTAParams):
        named["initial_dictionary"] = model.initial_dictionary_
        named["initial_transition"] = model.initial_transition_
    if effective:
        weights = effective_weights(params)
        named.update(S=weights.S, V=weights.V, W1=weights.W1, W=weights.W, P=weights.P)
    return {name: np.array(value, dtype=np.float64) for name, value in named.items()}


def plot_learned(model, initial=None, atoms=None, n_atoms=6, figure=None):
    """Plot learned dictionary atoms and the learned transition against their initial values.

    The top row shows atoms (columns of D), learned (solid) over initial (dashed); the
    bottom row the initial transition, the learned one and their difference.

    Parameters
    ----------
    model : SISTARegressor (fitted) or SISTAParams
        The learned parameters.
    initial : SISTAParams, optional
        The initial parameters; default the estimator's ``initial_dictionary_`` and
        ``initial_transition_`` (required with a SISTAParams ``model``).
    atoms : sequence of int, optional
        The atoms to show; default the ``n_atoms`` that changed most.
    n_atoms : int, default=6
    figure : matplotlib.figure.Figure, optional
        Draw into this figure (cleared); default a new one.

    Returns
    -------
    matplotlib.figure.Figure
    """
    Figure = _figure_class("plot_learned")
    params = _params(model)
    if initial is not None:
        D0, F0 = initial.D, initial.F
    elif not isinstance(model, SISTAParams):
        D0, F0 = model.initial_dictionary_, model.initial_transition_
    else:
        raise ValueError("give the initial parameters (initial=...) to compare with")
    D, F = params.D, params.F
    if atoms is None:
        change = np.linalg.norm(D - D0, axis=0)
        atoms = np.sort(np.argsort(change)[::-1][:min(n_atoms, D.shape[1])])
    atoms = list(atoms)

    figure = Figure(figsize=(2.2 * max(len(atoms), 3), 5.5)) if figure is None else figure
    figure.clear()
    grid = figure.add_gridspec(2, max(len(atoms), 3))
    for i, j in enumerate(atoms):
        ax = figure.add_subplot(grid[0, i])
        ax.plot(D0[:, j], "--", color="0.6", label="initial")
        ax.plot(D[:, j], color="C0", label="learned")
        ax.set_title(f"atom {j}", fontsize="small")
        ax.tick_params(labelsize="x-small")
    if atoms:
        figure.axes[0].legend(fontsize="x-small")
    columns = max(len(atoms), 3)
    spans = np.array_split(np.arange(columns), 3)
    limit = max(np.abs(F0).max(), np.abs(F).max())
    for span, matrix, title, scale in zip(
            spans, (F0, F, F - F0), ("initial transition F", "learned transition F",
                                     "learned - initial"), (limit, limit, None), strict=True):
        ax = figure.add_subplot(grid[1, span[0]:span[-1] + 1])
        bound = scale if scale is not None else max(np.abs(matrix).max(), 1e-12)
        image = ax.imshow(matrix, cmap="RdBu_r", vmin=-bound, vmax=bound)
        ax.set_title(title, fontsize="small")
        ax.tick_params(labelsize="x-small")
        figure.colorbar(image, ax=ax, shrink=0.8)
    return figure


def _params(model):
    if isinstance(model, SISTAParams):
        return model
    if not hasattr(model, "dictionary_"):
        raise ValueError("the model is not fitted: call fit first")
    return model._params()
