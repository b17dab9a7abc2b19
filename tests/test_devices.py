"""`tj.use_cpu_devices` in fresh interpreters, and the CLI's persistent compilation cache.

JAX fixes its CPU device count when its backend starts, once per process, so every case that
sets the count runs in a child interpreter; so do the runs with the cache on (the cache, once
set, stays for the process). No test writes outside its tmp_path."""

import os
import subprocess
import sys
import textwrap

import jax
import pytest

import trajax as tj
from trajax import _cli
from trajax._cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(code: str, **env) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh interpreter without the caller's XLA_FLAGS (plus `env`)."""
    full_env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"} | env
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )


def test_use_cpu_devices_before_jax_starts_sets_the_count_and_repeats_are_no_ops():
    run = _python("""
        import jax, trajax as tj
        assert tj.use_cpu_devices(2) == 2
        assert tj.use_cpu_devices(2) == 2  # again before the start: no-op
        assert len(jax.devices("cpu")) == 2
        assert float(jax.numpy.ones(3).sum()) == 3.0  # a computation
        assert tj.use_cpu_devices(2) == 2  # the same count after the start: no-op
        try:
            tj.use_cpu_devices(3)
        except RuntimeError as err:
            print(err)
        else:
            raise SystemExit("no error for another count after the start")
    """)
    assert run.returncode == 0, run.stderr
    message = run.stdout.strip()
    assert "\n" not in message  # one line
    assert message.startswith("use_cpu_devices(n=3): too late, JAX has already started with 2 CPU devices")
    assert "restart" in message and "XLA_FLAGS=--xla_force_host_platform_device_count=3" in message


def test_use_cpu_devices_after_a_computation_with_another_count_raises():
    run = _python("""
        import jax, trajax as tj
        jax.numpy.zeros(2).block_until_ready()  # JAX starts with its default, one CPU device
        assert tj.use_cpu_devices(1) == 1
        tj.use_cpu_devices(2)
    """)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "RuntimeError: use_cpu_devices(n=2): too late, JAX has already started with 1 CPU device "
    )


def test_use_cpu_devices_default_is_one_per_core_and_accepts_the_count_from_xla_flags():
    run = _python("""
        import os, jax, trajax as tj
        assert tj.use_cpu_devices() == os.cpu_count()  # before the start, n wins over XLA_FLAGS
        assert len(jax.devices("cpu")) == os.cpu_count()
    """, XLA_FLAGS="--xla_force_host_platform_device_count=3")  # fmt: skip
    assert run.returncode == 0, run.stderr
    # started with the flag's count: asking for that count is a no-op (JAX's own config check
    # would refuse it, its jax_num_cpu_devices being unset)
    run = _python("""
        import jax, trajax as tj
        assert len(jax.devices("cpu")) == 3
        assert tj.use_cpu_devices(3) == 3
    """, XLA_FLAGS="--xla_force_host_platform_device_count=3")  # fmt: skip
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("n", [0, -1, 1.5, True, "2"])
def test_use_cpu_devices_rejects_a_count_that_is_not_a_positive_integer(n):
    with pytest.raises(ValueError, match=r"^n: expected a positive integer number of CPU devices, got "):
        tj.use_cpu_devices(n)


def test_use_cpu_devices_in_this_started_session():
    n = len(jax.devices("cpu"))
    assert tj.use_cpu_devices(n) == n
    with pytest.raises(RuntimeError, match=rf"^use_cpu_devices\(n={n + 1}\): too late"):
        tj.use_cpu_devices(n + 1)


# ---------------------------------------------------------------------------- CLI: compilation cache
CHAIN = '[model]\nname = "two_state_chain"\ntheta = 0.8\n[sweep]\nm = [2, 4]\nT = [4, 8]\nreplicates = 8\nseed = 3\n'


def _cli_run(tmp_path, out: str, *flags, **env) -> subprocess.CompletedProcess:
    """`python -m trajax sweep` (the console entry point) with JAX logging its compilations."""
    config = tmp_path / "chain.toml"
    config.write_text(CHAIN)
    full_env = {k: v for k, v in os.environ.items() if k not in ("TRAJAX_NO_CACHE", "TRAJAX_CACHE_DIR")}
    full_env |= {"JAX_LOG_COMPILES": "1", **env}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "trajax", "sweep", str(config), "--out", str(tmp_path / out), "--quiet"]
    return subprocess.run([*command, *flags], capture_output=True, text=True, env=full_env, timeout=300)


def test_cli_reuses_compiled_sweep_programs_from_the_persistent_cache(tmp_path):
    cache = tmp_path / "cache"
    first = _cli_run(tmp_path, "first", TRAJAX_CACHE_DIR=str(cache))
    assert first.returncode == 0, first.stderr
    assert f"compilation cache: {cache}\n" in first.stdout
    assert "plot:" in first.stdout  # the whole output arrives before the fast exit
    assert "Persistent compilation cache hit for 'jit_sweep_fit'" not in first.stderr
    written = {p.name.split("-")[0] for p in cache.iterdir()}
    assert {"jit_sweep_simulate", "jit_sweep_fit"} <= written  # the AOT-compiled sweep programs
    second = _cli_run(tmp_path, "second", TRAJAX_CACHE_DIR=str(cache))
    assert second.returncode == 0, second.stderr
    for program in ("jit_sweep_simulate", "jit_sweep_fit"):
        assert f"Persistent compilation cache hit for '{program}'" in second.stderr
    assert (tmp_path / "first" / "cells.csv").read_text() == (tmp_path / "second" / "cells.csv").read_text()


@pytest.mark.parametrize("how", ["--no-cache", "TRAJAX_NO_CACHE", "unwritable"])
def test_cli_runs_without_the_cache_when_told_or_when_it_cannot_write(tmp_path, how):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    cache = blocker / "cache" if how == "unwritable" else tmp_path / "cache"
    flags = ["--no-cache"] if how == "--no-cache" else []
    env = {"TRAJAX_CACHE_DIR": str(cache)} | ({"TRAJAX_NO_CACHE": "1"} if how == "TRAJAX_NO_CACHE" else {})
    run = _cli_run(tmp_path, "out", *flags, **env)
    assert run.returncode == 0, run.stderr
    assert not cache.exists()
    assert "Persistent compilation cache" not in run.stderr
    warnings = [
        line for line in run.stderr.splitlines() if line.startswith("trajax: warning: compilation cache")
    ]
    if how == "unwritable":
        assert "compilation cache: off (directory not writable)\n" in run.stdout
        assert len(warnings) == 1 and str(cache) in warnings[0] and "TRAJAX_CACHE_DIR" in warnings[0]
    else:
        assert "compilation cache: off\n" in run.stdout and not warnings
    assert (tmp_path / "out" / "cells.csv").exists()


def test_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("TRAJAX_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    previous = jax.config.jax_compilation_cache_dir
    try:
        jax.config.update("jax_compilation_cache_dir", None)
        assert _cli._cache_dir() == tmp_path / "xdg" / "trajax" / "jax"
        jax.config.update("jax_compilation_cache_dir", str(tmp_path / "jax"))  # JAX_COMPILATION_CACHE_DIR
        assert _cli._cache_dir() == tmp_path / "jax"
        monkeypatch.setenv("TRAJAX_CACHE_DIR", str(tmp_path / "mine"))
        assert _cli._cache_dir() == tmp_path / "mine"
    finally:
        jax.config.update("jax_compilation_cache_dir", previous)


def test_cli_cpu_devices_in_process_after_jax_started_notes_it(tmp_path, capsys):
    # in this (started) test process, --cpu-devices cannot change the count: a note, not a failure
    config = tmp_path / "chain.toml"
    config.write_text(CHAIN)
    have = len(jax.devices("cpu"))
    flags = ["--quiet", "--no-cache", "--cpu-devices"]
    try:
        assert main(["sweep", str(config), "--out", str(tmp_path / "a"), *flags, str(have + 1)]) == 0
        assert f"--cpu-devices {have + 1} has no effect" in capsys.readouterr().err
        assert main(["sweep", str(config), "--out", str(tmp_path / "b"), *flags, str(have)]) == 0
        assert "has no effect" not in capsys.readouterr().err
    finally:
        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_enable_compilation_cache", True)
