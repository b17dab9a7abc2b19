"""TOML configs of `trajax sweep` and `trajax fit`: parsing, validation with did-you-mean hints,
and the model registry."""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

import jax

from . import _noise
from ._keys import key_from_seed
from ._models import (
    LinearAttention,
    LinearSystem,
    MarkovChain,
    MarkovChainMixture,
    MixedLinearRegression,
    SinusoidalGLM,
    TwoStateChain,
)

__all__ = [
    "ConfigError",
    "build_config",
    "build_model_in_dtype",
    "load_config",
    "read_config",
    "read_fit_config",
    "MODELS",
    "NOISES",
]


class ConfigError(ValueError):
    """A config problem; the message names the offending key."""


@dataclass(frozen=True)
class Spec:
    build: type
    required: tuple[str, ...]
    optional: tuple[str, ...]
    help: str


MODELS = {
    "two_state_chain": Spec(TwoStateChain, ("theta",), (), "two-state chain, stay probability theta"),
    "markov_chain": Spec(MarkovChain, ("P",), ("initial",), "K-state chain, transition matrix P"),
    "linear_system": Spec(
        LinearSystem, ("A",), ("noise", "x0"), "z' = A z + w, iid noise coordinates (table)"
    ),
    "two_state_mixture": Spec(
        MarkovChainMixture.two_state, ("theta0", "theta1"), ("weights",), "mixture of 2 symmetric chains"
    ),
    "markov_chain_mixture": Spec(
        MarkovChainMixture, ("P",), ("weights", "initial"), "mixture of k K-state chains, P is k×K×K"
    ),
    "sinusoidal_glm": Spec(SinusoidalGLM, ("A",), ("sigma",), "z' = sin(A z) + w, w ~ N(0, sigma² I)"),
    "linear_attention": Spec(LinearAttention, ("W", "E", "C"), (), "next token from linear attention"),
    "mixed_linear_regression": Spec(
        MixedLinearRegression, ("beta",), ("p", "sigma", "a", "gamma"), "y = ±βᵀφ + w, AR regressors"
    ),
}
NOISES = {
    "gaussian": Spec(_noise.Gaussian, (), ("scale",), "N(0, scale²)"),
    "student_t": Spec(_noise.StudentT, ("df",), ("scale",), "Student-t, df dof"),
    "smoothed_laplace": Spec(_noise.SmoothedLaplace, (), ("scale", "c"), "∝ cosh(c x/s)^(-1/c)"),
    "bang_bang": Spec(_noise.BangBang, (), ("nu",), "½N(1, nu²) + ½N(−1, nu²)"),
}
SECTIONS = {
    "model": None,
    "sweep": {"m", "T", "replicates", "seed", "design"},
    "fit": {"method", "max_steps", "tol", "starts"},
    "fisher": {"method", "samples"},
    "run": {"dtype", "batch_size", "max_cell_mb"},
}
REQUIRED_SWEEP = ("m", "T", "replicates")


def _hint(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (expected one of {sorted(options)})"


def _check_keys(table: dict, allowed, where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}: unknown key{_hint(key, allowed)}")


def _build(spec: Spec, params: dict, where: str, **extra):
    _check_keys(params, set(spec.required) | set(spec.optional), where)
    for key in spec.required:
        if key not in params:
            raise ConfigError(f"{where}.{key}: required key is missing")
    try:
        return spec.build(**params, **extra)
    except ValueError as err:
        raise ConfigError(f"{where}.{err}") from None
    except (TypeError, OverflowError) as err:
        raise ConfigError(f"{where}: {err}") from None


def build_noise(table, where="model.noise"):
    if not isinstance(table, dict) or "family" not in table:
        raise ConfigError(f"{where}: expected a table with a 'family' key, e.g. {{ family = \"gaussian\" }}")
    params = dict(table)
    family = params.pop("family")
    if not isinstance(family, str) or family not in NOISES:
        raise ConfigError(f"{where}.family: unknown noise family {family!r}{_hint(str(family), NOISES)}")
    return _build(NOISES[family], params, where)


def build_model(table: dict):
    params = dict(table)
    name = params.pop("name", None)
    if name is None:
        raise ConfigError(f"model.name: required key is missing; one of {sorted(MODELS)}")
    if not isinstance(name, str) or name not in MODELS:
        raise ConfigError(f"model.name: unknown model {name!r}{_hint(str(name), MODELS)}")
    if "noise" in params:
        params["noise"] = build_noise(params["noise"])
    return _build(MODELS[name], params, "model")


def _integer(table: dict, key: str, where: str, minimum: int, maximum: int = 2**31 - 1) -> None:
    if key not in table:
        return
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}.{key}: expected an integer >= {minimum}, got {value!r}")
    if value > maximum:
        raise ConfigError(f"{where}.{key}: expected an integer <= {maximum}, got {value!r}")


def _positive(table: dict, key: str, where: str) -> None:
    value = table.get(key)
    good = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < math.inf
    if key in table and not good:
        raise ConfigError(f"{where}.{key}: expected a positive number, got {value!r}")


def _choice(table: dict, key: str, where: str, options) -> None:
    if key in table and table[key] not in options:
        raise ConfigError(f"{where}.{key}: expected one of {tuple(options)}, got {table[key]!r}")


def _check_values(raw: dict) -> None:
    """Types and ranges of the settings that are not the model's (those its class checks)."""
    from ._fisher import METHODS as FISHER_METHODS

    sweep, fisher = raw.get("sweep", {}), raw.get("fisher", {})
    for key in ("m", "T"):  # lists of ints: the bounds here; distinct values etc. in `sweep`
        values = sweep[key] if isinstance(sweep[key], list) else [sweep[key]]
        for value in values:
            _integer({key: value}, key, "sweep", 2 if key == "T" else 1)
    _integer(sweep, "replicates", "sweep", 2)
    _integer(sweep, "seed", "sweep", 0, 2**63 - 1)
    _choice(sweep, "design", "sweep", ("nested", "independent"))
    _choice(fisher, "method", "fisher", FISHER_METHODS)
    _integer(fisher, "samples", "fisher", 2)
    _check_fit_and_run(raw)


def _check_fit_and_run(raw: dict) -> None:
    """Types and ranges of the [fit] and [run] settings (a sweep's and `trajax fit`'s)."""
    from ._fit import METHODS as FIT_METHODS

    fit, run = raw.get("fit", {}), raw.get("run", {})
    _choice(fit, "method", "fit", FIT_METHODS)
    _integer(fit, "max_steps", "fit", 1)
    _positive(fit, "tol", "fit")
    _integer(fit, "starts", "fit", 1)
    _integer(run, "batch_size", "run", 2)
    _positive(run, "max_cell_mb", "run")
    _choice(run, "dtype", "run", ("float32", "float64"))


def read_config(path) -> dict:
    """Reads and checks a sweep config without building anything: the TOML, its tables and
    keys (with did-you-mean hints), and the types and ranges of the sweep, fit, Fisher and run
    settings. Every problem is a one-line ConfigError naming its key; returns the TOML dict."""
    raw = _read_tables(path)
    for key in REQUIRED_SWEEP:
        if key not in raw.get("sweep", {}):
            raise ConfigError(f"sweep.{key}: required key is missing")
    _check_values(raw)
    return raw


def read_fit_config(path) -> dict:
    """Reads and checks a config for `trajax fit`: the [model] table, and [fit] (options of
    `tj.fit`) and [run] (dtype) when present; the [sweep] and [fisher] tables of a sweep config
    are allowed and unused. Every problem is a one-line ConfigError naming its key."""
    raw = _read_tables(path)
    _check_fit_and_run(raw)
    return raw


def build_model_in_dtype(raw: dict):
    """The model of a config's [model] table, built in JAX's current precision, which must be
    the config's dtype (see `build_config`)."""
    dtype = config_dtype(raw)
    if (dtype == "float64") != bool(jax.config.jax_enable_x64):
        flag = dtype == "float64"
        raise ConfigError(
            f"run.dtype: the config asks for {dtype} but jax_enable_x64 is {not flag}; call "
            f"jax.config.update('jax_enable_x64', {flag}) before building it (the CLI does this)"
        )
    return build_model(raw["model"])


def _read_tables(path) -> dict:
    """The TOML of a config with its tables and keys checked, [model] present."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"CONFIG: no such file: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"CONFIG: {path} is a directory; give a TOML file") from None
    except OSError as err:
        raise ConfigError(f"CONFIG: cannot read {path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"CONFIG: {path} is not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"CONFIG: malformed TOML in {path}: {err}") from None
    _check_keys(raw, SECTIONS, "config")
    for section, allowed in SECTIONS.items():
        if section in raw and not isinstance(raw[section], dict):
            raise ConfigError(f"{section}: expected a [{section}] table")
        if allowed is not None:
            _check_keys(raw.get(section, {}), allowed, section)
    if "model" not in raw:
        raise ConfigError("model: the [model] table is missing")
    return raw


def config_dtype(raw: dict) -> str:
    """The dtype a config asks for ("float64" unless [run] dtype says otherwise)."""
    return raw.get("run", {}).get("dtype", "float64")


@dataclass
class SweepConfig:
    model: object
    sweep_kwargs: dict
    dtype: str
    raw: dict


def build_config(raw: dict) -> SweepConfig:
    """Builds the model and the `sweep` arguments of a config checked by `read_config`.

    The model is built in JAX's current precision, which must be the config's dtype: library
    code does not flip global settings, so enable 64-bit JAX first for a float64 config
    (`jax.config.update("jax_enable_x64", True)`; the CLI does this itself)."""
    dtype = config_dtype(raw)
    model = build_model_in_dtype(raw)
    sweep, run, fisher = raw["sweep"], raw.get("run", {}), raw.get("fisher", {})
    kwargs = {
        "m": sweep["m"],
        "T": sweep["T"],
        "replicates": sweep["replicates"],
        "key": key_from_seed(sweep.get("seed", 0)),
        "design": sweep.get("design", "nested"),
        "fit_options": dict(raw.get("fit", {})),
        "fisher_method": fisher.get("method", "auto"),
        "fisher_samples": fisher.get("samples", 2000),
        "batch_size": run.get("batch_size", 16),
        "max_cell_bytes": int(run.get("max_cell_mb", 1024) * 2**20),
    }
    return SweepConfig(model=model, sweep_kwargs=kwargs, dtype=dtype, raw=raw)


def load_config(path) -> SweepConfig:
    """Reads, checks and builds a sweep config (`read_config`, then `build_config`); every
    error is a one-line ConfigError naming its key."""
    return build_config(read_config(path))
