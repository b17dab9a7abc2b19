"""TOML sweep configs: parsing, validation with did-you-mean hints, and the model registry."""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path

import jax

from . import _noise
from ._models import (
    LinearAttention,
    LinearSystem,
    MarkovChain,
    MarkovChainMixture,
    MixedLinearRegression,
    SinusoidalGLM,
    TwoStateChain,
)

__all__ = ["ConfigError", "load_config", "MODELS", "NOISES"]


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
    "fit": {"method", "max_steps", "tol"},
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
    except TypeError as err:
        raise ConfigError(f"{where}: {err}") from None


def build_noise(table, where="model.noise"):
    if not isinstance(table, dict) or "family" not in table:
        raise ConfigError(f"{where}: expected a table with a 'family' key, e.g. {{ family = \"gaussian\" }}")
    params = dict(table)
    family = params.pop("family")
    if family not in NOISES:
        raise ConfigError(f"{where}.family: unknown noise family {family!r}{_hint(str(family), NOISES)}")
    return _build(NOISES[family], params, where)


def build_model(table: dict):
    params = dict(table)
    name = params.pop("name", None)
    if name is None:
        raise ConfigError(f"model.name: required key is missing; one of {sorted(MODELS)}")
    if name not in MODELS:
        raise ConfigError(f"model.name: unknown model {name!r}{_hint(str(name), MODELS)}")
    if "noise" in params:
        params["noise"] = build_noise(params["noise"])
    return _build(MODELS[name], params, "model")


@dataclass
class SweepConfig:
    model: object
    sweep_kwargs: dict
    dtype: str
    raw: dict


def load_config(path) -> SweepConfig:
    """Parses and validates a sweep config; every error is a ConfigError naming its key."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"CONFIG: no such file: {path}") from None
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
    sweep = raw.get("sweep", {})
    for key in REQUIRED_SWEEP:
        if key not in sweep:
            raise ConfigError(f"sweep.{key}: required key is missing")
    run = raw.get("run", {})
    dtype = run.get("dtype", "float64")
    if dtype not in ("float32", "float64"):
        raise ConfigError(f"run.dtype: expected 'float32' or 'float64', got {dtype!r}")
    jax.config.update("jax_enable_x64", dtype == "float64")
    model = build_model(raw["model"])
    seed = sweep.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"sweep.seed: expected a non-negative integer, got {seed!r}")
    fit_options = dict(raw.get("fit", {}))
    fisher = raw.get("fisher", {})
    kwargs = {
        "m": sweep["m"],
        "T": sweep["T"],
        "replicates": sweep["replicates"],
        "key": jax.random.key(seed),
        "design": sweep.get("design", "nested"),
        "fit_options": fit_options,
        "fisher_method": fisher.get("method", "auto"),
        "fisher_samples": fisher.get("samples", 2000),
        "batch_size": run.get("batch_size", 16),
        "max_cell_bytes": int(run.get("max_cell_mb", 1024) * 2**20),
    }
    return SweepConfig(model=model, sweep_kwargs=kwargs, dtype=dtype, raw=raw)
