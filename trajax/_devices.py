"""How many CPU devices JAX exposes: `use_cpu_devices`, one device per core for sweeps.

XLA runs the many small kernels of a sweep on one thread per device, so a sweep on a CPU uses
every core only when JAX exposes one CPU device per core (`tj.sweep` shards its replicates over
`jax.local_devices()`). JAX fixes its device count when its backend starts, at the first
computation of the process; `use_cpu_devices` sets it before that, and says so when it is too
late.
"""

from __future__ import annotations

import numbers
import os

__all__ = ["use_cpu_devices"]

_XLA_FLAG = "--xla_force_host_platform_device_count"


def _backends_started() -> bool:
    """Whether JAX's backends are initialised in this process (the device count is then fixed)."""
    from jax._src import xla_bridge

    started = getattr(xla_bridge, "backends_are_initialized", None)
    if started is not None:
        return bool(started())
    return bool(getattr(xla_bridge, "_backends", None))  # JAX versions without the function


def _cpu_device_count() -> int | None:
    """CPU devices of this process's running backend (None when JAX runs without a CPU backend)."""
    import jax

    try:
        return len(jax.local_devices(backend="cpu"))
    except RuntimeError:  # jax_platforms without "cpu"
        return None


def _too_late(n: int) -> RuntimeError:
    have = _cpu_device_count()
    started = f"with {have} CPU device{'s' * (have != 1)}" if have is not None else "without a CPU backend"
    return RuntimeError(
        f"use_cpu_devices(n={n}): too late, JAX has already started {started} in this process; restart "
        f"the Python process (or notebook kernel) and call tj.use_cpu_devices first, before any JAX "
        f"computation, or start Python with XLA_FLAGS={_XLA_FLAG}={n} set in the environment"
    )


def use_cpu_devices(n: int | None = None) -> int:
    """Makes JAX expose `n` CPU devices (default: one per core), so that `tj.sweep` on a CPU
    shards its replicates over every core; returns `n`.

    JAX fixes its number of CPU devices when its backend starts, at the first JAX computation
    of the process (creating an array counts; importing `jax` or `trajax` does not). Call this
    first, e.g. in the first cell of a notebook. Calling it again with the same count is a
    no-op, also after JAX has started, and so is calling it with the count JAX started with
    (for example from `XLA_FLAGS=--xla_force_host_platform_device_count=N`); an explicit `n`
    before the start takes precedence over that flag. GPU and TPU devices are not affected.
    Results of a sweep do not depend on the number of devices. The command line
    (`trajax sweep`) does this itself, see `--cpu-devices`.

    **Arguments:**

    - `n`: the number of CPU devices, a positive integer; None (default) for `os.cpu_count()`.

    **Returns:** `n` (the number of CPU devices JAX exposes, or will expose when it starts).

    **Raises:** `RuntimeError` (one line) when JAX has already started with another number of
    CPU devices: restart the process and call this first, or set the `XLA_FLAGS` environment
    variable above before Python starts. `ValueError` when `n` is not a positive integer.

    Example:
        >>> import trajax as tj
        >>> tj.use_cpu_devices()  # first, in a fresh session: one per core  # doctest: +SKIP
        8
        >>> import jax
        >>> n = len(jax.devices("cpu"))  # JAX has started now
        >>> tj.use_cpu_devices(n) == n  # the count in use: a no-op
        True
        >>> tj.use_cpu_devices(n + 1)
        Traceback (most recent call last):
        RuntimeError: use_cpu_devices(n=...): too late, JAX has already started with ... CPU device...
    """
    count = (os.cpu_count() or 1) if n is None else n
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
        raise ValueError(f"n: expected a positive integer number of CPU devices, got {n!r}")
    count = int(count)
    import jax

    if _backends_started():
        if _cpu_device_count() == count:
            return count
        raise _too_late(count)
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:  # another thread started the backends in the meantime
        if _cpu_device_count() == count:
            return count
        raise _too_late(count) from None
    return count
