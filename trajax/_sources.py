"""Where a fit's data come from. The estimator (`_estimate.py`) needs two reductions over the
data, and each source provides them over its own pieces:

- `total(fn)`: Σ fn(piece) of an additive pytree (sufficient or least-squares statistics);
- `mean(fn)`: the transition-weighted mean Σ n_piece·fn(piece) / n of per-transition means
  (the objective, its gradient and Hessian, all means per transition).

Sources:

- `Whole(data)`: data with leading axes (m, T) in memory (one piece; `mean(fn)` is `fn(data)`).
- `Windows(data, m, T, ...)`: the prefix data[:m, :T] of a larger nested simulation, cut into
  windows of `bm` trajectories × `bt` transitions (plus a last column of `r`), with (m, T) as
  run-time values: one compiled program serves every cell of a nested sweep. Correct for
  time-homogeneous first-order Markov models (`AbstractModel.homogeneous_markov`), whose
  log-likelihood of any window of consecutive states (given its first) is the sum of its
  transition terms.
- `Chunks(model, key, ...)`: trajectories re-simulated chunk by chunk from the keys `simulate`
  uses, one chunk in memory at a time (`fit_streaming`).
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Int, PRNGKeyArray, PyTree

from ._model import AbstractModel
from ._simulate import trajectory_key

__all__ = ["AbstractSource", "Whole", "Groups", "Windows", "Chunks", "ragged_source"]


def _add(a, b):
    return jax.tree.map(jnp.add, a, b)


class AbstractSource(eqx.Module):
    """Data a fit sums over. See the module docstring."""

    def total(self, fn: Callable[[PyTree], PyTree]) -> PyTree:
        """Σ fn(piece) over the pieces of the data (fn returns an additive pytree)."""
        raise NotImplementedError

    def mean(self, fn: Callable[[PyTree], PyTree]) -> PyTree:
        """Σ n_piece · fn(piece) / n: fn returns means per transition of its piece."""
        raise NotImplementedError

    def num_transitions(self) -> Array:
        """n: the number of transitions in the data (m(T − 1) for balanced data)."""
        raise NotImplementedError

    def example(self) -> PyTree:
        """One piece of the data, for `jax.eval_shape` probes of the model's hooks."""
        raise NotImplementedError


class Whole(AbstractSource):
    """All of `data` (leading axes (m, T)) at once."""

    data: PyTree

    def total(self, fn):
        return fn(self.data)

    def mean(self, fn):
        return fn(self.data)

    def num_transitions(self):
        m, T = jax.tree.leaves(self.data)[0].shape[:2]
        return jnp.asarray(m * (T - 1))

    def example(self):
        return self.data


class Groups(AbstractSource):
    """Data in several groups of different shapes (e.g. trajectories grouped by length), summed
    group by group (one traced copy of each reduction per group)."""

    groups: tuple

    def total(self, fn):
        parts = [fn(g) for g in self.groups]
        return jax.tree.map(lambda *xs: sum(xs[1:], xs[0]), *parts)

    def mean(self, fn):
        counts = [_transitions(g) for g in self.groups]
        n = sum(counts)
        parts = [jax.tree.map(lambda x, c=c: c * x, fn(g)) for g, c in zip(self.groups, counts, strict=True)]
        sums = jax.tree.map(lambda *xs: sum(xs[1:], xs[0]), *parts)
        return jax.tree.map(lambda x: x / jnp.asarray(n, x.dtype), sums)

    def num_transitions(self):
        return jnp.asarray(sum(_transitions(g) for g in self.groups))

    def example(self):
        return self.largest()

    def largest(self):
        """The group with the most transitions (where a model's own start is computed)."""
        return max(self.groups, key=_transitions)


def _transitions(data) -> int:
    m, T = jax.tree.leaves(data)[0].shape[:2]
    return m * (T - 1)


def ragged_source(model: AbstractModel, data, lengths) -> AbstractSource:
    """The source of ragged data (concrete `lengths`, padding already filled): for a
    `homogeneous_markov` model, every valid transition as a window of two states (one Whole
    source: the pooled likelihood is the sum of the windows'); otherwise the trajectories grouped
    by length, each group cut to its length."""
    lengths = np.asarray(lengths)
    T = jax.tree.leaves(data)[0].shape[1]
    if model.homogeneous_markov:
        i, t = np.nonzero(np.arange(T - 1)[None, :] < lengths[:, None] - 1)
        return Whole(jax.tree.map(lambda x: jnp.stack([x[i, t], x[i, t + 1]], axis=1), data))
    groups = []
    for L in np.unique(lengths):
        idx = np.nonzero(lengths == L)[0]
        groups.append(jax.tree.map(lambda x, idx=idx, L=L: x[idx, : int(L)], data))
    return Groups(tuple(groups))


def _window(data, j0, t0, bm: int, length: int, replicate=None):
    """Trajectories j0 … j0 + bm − 1, states t0 … t0 + length − 1 of `data`, or of replicate
    `replicate` of `data` (then its leading axis) without slicing that replicate out first."""

    def cut(x):
        if replicate is None:
            start = tuple(jnp.asarray(i, jnp.int32) for i in (j0, t0) + (0,) * (x.ndim - 2))
            return lax.dynamic_slice(x, start, (bm, length, *x.shape[2:]))
        start = tuple(jnp.asarray(i, jnp.int32) for i in (replicate, j0, t0) + (0,) * (x.ndim - 3))
        return lax.dynamic_slice(x, start, (1, bm, length, *x.shape[3:]))[0]

    return jax.tree.map(cut, data)


class Windows(AbstractSource):
    """data[:m, :T] of one replicate's nested simulation, in windows (m, T traced int32).

    `m` must be a multiple of `bm` and (T − 1) mod `bt` must equal `r`; only bm, bt and r are
    static, so a grid whose T − 1 share one remainder mod bt compiles one program for all cells.
    With `replicate` given, `data` holds many replicates (leading axis) and the windows are cut
    from replicate `replicate` directly: a sweep's fit program reads its block in place instead
    of copying each batch of replicates out of it.
    """

    data: PyTree
    m: Int[Array, ""]
    T: Int[Array, ""]
    bm: int = eqx.field(static=True)
    bt: int = eqx.field(static=True)
    r: int = eqx.field(static=True)
    replicate: Int[Array, ""] | None = None

    def _sum(self, fn):
        """Σ fn(window, transitions_in_window) over the partition of data[:m, :T]."""
        m, T, bm, bt, r = self.m, self.T, self.bm, self.bt, self.r
        window = lambda j0, t0, length: _window(self.data, j0, t0, bm, length, self.replicate)
        blocks = m // bm
        full = jnp.maximum((T - 1) // bt, 1)  # full windows per trajectory block (≥ 1: no 0 divisor)
        probe = window(0, 0, (r or bt) + 1)
        acc = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(fn, probe, bm * (r or bt)))

        def full_body(i, acc):
            return _add(acc, fn(window((i // full) * bm, (i % full) * bt, bt + 1), bm * bt))

        time_axis = 1 if self.replicate is None else 2
        # else no full window fits: every T − 1 = r
        if bt + 1 <= jax.tree.leaves(self.data)[0].shape[time_axis]:
            acc = lax.fori_loop(0, blocks * ((T - 1) // bt), full_body, acc)
        if r:

            def rest_body(j, acc):
                return _add(acc, fn(window(j * bm, T - 1 - r, r + 1), bm * r))

            acc = lax.fori_loop(0, blocks, rest_body, acc)
        return acc

    def total(self, fn):
        return self._sum(lambda w, _: fn(w))

    def mean(self, fn):
        # means over a window's transitions, weighted by its count: the mean over the prefix
        sums = self._sum(lambda w, count: jax.tree.map(lambda x: count * x, fn(w)))
        n = self.num_transitions()
        return jax.tree.map(lambda s: s / n.astype(s.dtype), sums)

    def num_transitions(self):
        return self.m * (self.T - 1)

    def example(self):
        return _window(self.data, 0, 0, self.bm, (self.r or self.bt) + 1, self.replicate)


class Chunks(AbstractSource):
    """`num_chunks` × `chunk_size` trajectories of `num_steps` states simulated from `key` (as
    `simulate` does: trajectory i uses `fold_in(key, i)`), one chunk in memory at a time."""

    model: AbstractModel
    key: PRNGKeyArray
    num_chunks: int = eqx.field(static=True)
    chunk_size: int = eqx.field(static=True)
    num_steps: int = eqx.field(static=True)

    def chunk(self, c) -> PyTree:
        """Chunk c: trajectories c·chunk_size … (c + 1)·chunk_size − 1."""
        indices = (c * self.chunk_size + jnp.arange(self.chunk_size)).astype(jnp.uint32)
        sample = lambda i: self.model.sample_trajectory(trajectory_key(self.key, i), self.num_steps)
        return jax.vmap(sample)(indices)

    def total(self, fn):
        first = fn(self.chunk(0))
        return lax.fori_loop(1, self.num_chunks, lambda c, acc: _add(acc, fn(self.chunk(c))), first)

    def mean(self, fn):
        count = self.chunk_size * (self.num_steps - 1)
        sums = self.total(lambda d: jax.tree.map(lambda x: count * x, fn(d)))
        n = self.num_transitions()
        return jax.tree.map(lambda s: s / n.astype(s.dtype), sums)

    def num_transitions(self):
        # a float: 10^10 streamed transitions overflow int32
        return jnp.asarray(float(self.num_chunks * self.chunk_size * (self.num_steps - 1)))

    def example(self):
        return self.chunk(0)
