"""The fingerprint of a sweep: what identifies the numbers it computes.

A SHA-256 of every setting that can change a number: the model's parameters, dtype and code,
the grid, replicates, key, design, fit and Fisher options. Settings that decide how a sweep
runs rather than what it computes (`NO_NUMBER_SETTINGS`: batch size, memory budget, devices,
processes) are left out, so a run can be resumed with a smaller budget or on other devices:
devices and replicate blocks change no number, the batch width numbers by rounding at most, and
a budget that moves a nested sweep from its shared windows to per-cell fits numbers by up to the
fit's tolerance (docs/reliability.md). The
model's code enters through `model_code`: the source of the methods of its class (and of the
noise and functions it holds, and of helpers in its module that they call), or a `version`
the class declares.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
import types

import equinox as eqx
import numpy as np

from ._jsonio import jsonable

__all__ = ["NO_NUMBER_SETTINGS", "fingerprint", "first_difference", "identity", "model_code"]

# Settings that decide how a sweep runs but not what it computes (top level of the resolved
# config, and keys of the TOML config's [run] table).
NO_NUMBER_SETTINGS = frozenset(
    {"batch_size", "max_cell_bytes", "max_cell_mb", "devices", "cpu_devices", "num_processes", "blocks",
     "shards"}
)  # fmt: skip
_FOREIGN_MODULES = ("equinox", "abc", "collections", "typing")


def _code_text(code: types.CodeType) -> str:
    """Bytecode, constants and names of `code` (and nested code), without line numbers, for
    functions whose source is not available (defined with `exec` or in `python -c`)."""
    consts = [_code_text(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts]
    return "|".join([code.co_code.hex(), *consts, *code.co_names, *code.co_varnames])


def _names(code: types.CodeType):
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _names(const)


def _function_text(fn, seen: set) -> list[str]:
    """The source of `fn`, its closure's simple values, and the same for the functions and
    classes of its own module that it calls (a helper edited beside the class counts)."""
    fn = inspect.unwrap(fn)
    if isinstance(fn, functools.partial):
        return [*_function_text(fn.func, seen), repr(fn.args), repr(sorted(fn.keywords))]
    if not isinstance(fn, types.FunctionType) or id(fn) in seen:
        return []
    seen.add(id(fn))
    try:
        text = [inspect.getsource(fn)]
    except (OSError, TypeError):
        text = [_code_text(fn.__code__)]
    text += [_value_text(cell.cell_contents) for cell in fn.__closure__ or () if _has_contents(cell)]
    for name in sorted(set(_names(fn.__code__))):
        value = fn.__globals__.get(name)
        if getattr(value, "__module__", None) == fn.__module__:
            if isinstance(value, types.FunctionType):
                text += _function_text(value, seen)
            elif isinstance(value, type):
                text += _class_text(value, seen)
        elif isinstance(value, int | float | str | np.ndarray):
            text.append(f"{name}={_value_text(value)}")
    return text


def _has_contents(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:  # an empty cell
        return False
    return True


def _value_text(value) -> str:
    if isinstance(value, bool | int | float | str | type(None)):
        return repr(value)
    if isinstance(value, np.ndarray) or hasattr(value, "__array__") and hasattr(value, "dtype"):
        array = np.asarray(value)
        return f"{array.dtype}{array.shape}:{hashlib.sha256(array.tobytes()).hexdigest()}"
    if isinstance(value, types.FunctionType):
        return "".join(_function_text(value, set()))
    return type(value).__qualname__


@functools.cache
def _engine_classes() -> frozenset:
    from ._model import AbstractModel
    from ._noise import AbstractNoise

    return frozenset({*AbstractModel.__mro__, *AbstractNoise.__mro__})


def _class_text(cls: type, seen: set) -> list[str]:
    """Source of the methods and values of the class attributes of `cls` and of its bases,
    up to trajax's abstract bases (whose code is trajax's own, recorded by its version)."""
    if id(cls) in seen:
        return []
    seen.add(id(cls))
    text = []
    for klass in cls.__mro__:
        if klass in _engine_classes() or klass.__module__.split(".")[0] in _FOREIGN_MODULES:
            continue
        text.append(klass.__qualname__)
        for name, attr in sorted(vars(klass).items()):
            if isinstance(attr, staticmethod | classmethod):
                attr = attr.__func__
            if isinstance(attr, property):
                text += [t for f in (attr.fget, attr.fset, attr.fdel) if f for t in _function_text(f, seen)]
            elif isinstance(attr, types.FunctionType | functools.partial):
                text += _function_text(attr, seen)
            elif not name.startswith("__") and isinstance(attr, bool | int | float | str | tuple):
                text.append(f"{name}={attr!r}")
    return text


def _parts(obj, found: dict) -> None:
    """Collects the classes of the modules inside `obj` and the functions it holds."""
    if isinstance(obj, eqx.Module):
        found.setdefault(type(obj), None)
        for field in dataclasses.fields(obj):
            _parts(getattr(obj, field.name, None), found)
    elif isinstance(obj, list | tuple):
        for item in obj:
            _parts(item, found)
    elif isinstance(obj, dict):
        for item in obj.values():
            _parts(item, found)
    elif isinstance(obj, types.FunctionType | functools.partial):
        found.setdefault(obj, None)


def model_code(model) -> dict:
    """{qualified name: SHA-256 of its code} for the model's class, the classes of the modules
    it holds (its noise) and the functions it holds (features). A class that declares a
    `version` (a class variable) is identified by that version instead of its source: the
    author then says when results change. Code outside the model's module that it calls
    (other libraries, trajax's engine) is not included."""
    found: dict = {}
    _parts(model, found)
    out = {}
    for part in found:
        name = getattr(part, "__qualname__", type(part).__qualname__)
        if isinstance(part, type) and getattr(part, "version", None) is not None:
            out[name] = f"version {part.version}"
            continue
        text = _class_text(part, set()) if isinstance(part, type) else _function_text(part, set())
        out[name] = hashlib.sha256("\n".join(text).encode()).hexdigest()
    return out


# ---------------------------------------------------------------------------- fingerprint


def identity(resolved: dict) -> dict:
    """The settings of `resolved` (a sweep's resolved config) that can change its numbers."""
    out = {k: v for k, v in resolved.items() if k not in NO_NUMBER_SETTINGS}
    config = out.get("config")
    if isinstance(config, dict) and isinstance(config.get("run"), dict):
        run = {k: v for k, v in config["run"].items() if k not in NO_NUMBER_SETTINGS}
        out["config"] = {k: v for k, v in config.items() if k != "run"} | ({"run": run} if run else {})
    return jsonable(out)


def fingerprint(settings: dict) -> str:
    """SHA-256 of `settings` in canonical JSON (sorted keys)."""
    text = json.dumps(jsonable(settings), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def first_difference(old, new, path: str = "") -> str | None:
    """The dotted path of the first setting in which `old` and `new` differ (None if equal)."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = [*new, *(k for k in old if k not in new)]  # as the sweep lists them, the TOML last
        for key in sorted(keys, key=lambda k: k == "config"):
            if key not in old or key not in new:
                return f"{path}{key}"
            inner = first_difference(old[key], new[key], f"{path}{key}.")
            if inner is not None:
                return inner
        return None
    return None if old == new else path.rstrip(".") or "config"
