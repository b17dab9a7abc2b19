"""The `trajax` command line: `trajax sweep CONFIG`, `trajax merge DIR`, `trajax fit CONFIG DATA`,
`trajax models`, `trajax bench`.

Exit status: 0 on success; 2 on bad input (a one-line message naming the key or path, before
any work); 1 on a file error during the run; 130 when interrupted. In every case the finished
cells are saved, and rerunning the same command resumes.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import json
import math
import os
import signal
import sys
import threading
from pathlib import Path

import numpy as np

__all__ = ["main", "run"]

_ONE_SHOT = False  # set by `run`: the process ends with the command


def _format_table(table) -> str:
    """The per-cell table; a `failed_<reason>` column appears when some cell has such failures."""
    reasons = [k for k in (table[0] if table else {}) if k.startswith("failed_") and any(r[k] for r in table)]
    head = (
        f"{'m':>6} {'T':>6} {'mse':>11} {'theory':>11} {'ratio':>7} {'95% CI':>17} "
        f"{'m·ΔᵀIΔ':>8} {'cover':>6} {'wald':>6} {'p':>3} {'failed':>6}"
        + "".join(f" {k:>{max(len(k), 6)}}" for k in reasons)
    )
    lines = [head, "-" * len(head)]
    for r in table:
        ci = f"[{r['ratio_lo']:.3f}, {r['ratio_hi']:.3f}]"
        lines.append(
            f"{r['m']:>6} {r['T']:>6} {r['mse']:>11.4e} {r['theory']:>11.4e} {r['ratio']:>7.3f} "
            f"{ci:>17} {r['fisher_error']:>8.3f} {r.get('coverage', float('nan')):>6.3f} "
            f"{r.get('wald_coverage', float('nan')):>6.3f} {r['p']:>3} {r['failed']:>6}"
            + "".join(f" {r[k]:>{max(len(k), 6)}}" for k in reasons)
        )
    return "\n".join(lines)


def _format_slopes(slopes) -> str:
    lines = ["slopes of log mse (95% CI) beside the theory curve's slope:"]
    for s in slopes:
        if math.isfinite(s["slope"]):
            lines.append(
                f"  vs log {s['against']:<2} at {s['at']:<8} {s['slope']:+.3f} "
                f"[{s['lo']:+.3f}, {s['hi']:+.3f}]   theory {s['theory_slope']:+.3f}"
            )
    return "\n".join(lines)


def cmd_sweep(args) -> int:
    """Checks the config and --out (one line, exit 2, before any work), sets JAX's precision
    from the config's dtype and its persistent compilation cache (unless --no-cache), then runs
    (or resumes) the sweep."""
    from ._config import ConfigError, build_config, config_dtype, read_config
    from ._records import check_out_dir
    from ._replicates import parse_shard, shard_dir_name
    from ._spec import SpecError
    from ._sweep import sweep

    if _ONE_SHOT:
        # the objects of the imports above (JAX, equinox, optax, NumPy) live as long as the
        # process: frozen, the cyclic collector's full passes while tracing and plotting skip
        # them (the main job of benchmarks/bench_scaling.py at R = 64: 0.46-0.51 s of collection,
        # 0.34-0.36 s frozen). Only when the process ends with the command (`run`): in a longer
        # one (`main` called from Python), frozen garbage would never be collected
        gc.freeze()
    raw = read_config(args.config)
    shard = parse_shard(args.shard) if args.shard else None
    out = check_out_dir(Path(args.out) if args.out else Path("runs") / Path(args.config).stem)
    _use_cpu_cores(args.cpu_devices)
    import jax

    jax.config.update("jax_enable_x64", config_dtype(raw) == "float64")  # before any array exists
    if args.num_processes > 1:
        _init_distributed(args)
    config = build_config(raw)
    cache = _use_compilation_cache(not args.no_cache)  # before the sweep compiles its programs
    try:
        result = sweep(
            config.model,
            **config.sweep_kwargs,
            out=out,
            resume=True,  # a plain rerun resumes; --resume is accepted and changes nothing
            force=args.force,
            progress=_progress(args.quiet),
            config=config.raw,
            shard=shard,
        )
    except SpecError as err:  # the spec names the setting's section: the config key
        raise ConfigError(f"{err.section}.{err}") from None
    except ValueError as err:
        if isinstance(err, ConfigError) or str(err).startswith("out:"):
            raise
        raise ConfigError(str(err)) from None
    _INTERRUPTS.check()  # one swallowed during the last cell or the summary
    import jax

    if jax.process_index() != 0:  # process 0 reports for a multi-process run
        return 0
    print(_format_table(result.table))
    print()
    print(_format_slopes(result.slopes()))
    computed = [t for t in result.timings if not t.get("resumed")]
    total_compile = sum(t.get("compile_s", 0.0) for t in computed)
    total_run = sum(t.get("run_s", 0.0) for t in computed)
    print(f"\ncompile {total_compile:.1f}s, run {total_run:.1f}s (cells computed in this run only)")
    print(f"compilation cache: {cache}")
    if shard is not None:
        out = out / shard_dir_name(*shard)
        print(f"shard {shard[0]}/{shard[1]}: replicates {result.config['shard']['first']}.."
              f"{result.config['shard']['stop'] - 1} of each cell (the table above is this shard's); "
              f"when every shard is done: trajax merge {out.parent}")  # fmt: skip
    _print_outputs(result, out, args.burn_in_map)
    return 0


def _print_outputs(result, out: Path, burn_in_map: bool) -> None:
    """The files a sweep or a merge wrote (and, with `burn_in_map`, draws burn_in.png)."""
    print(f"results: {out / 'cells.csv'}, {out / 'replicates.csv'}, {out / 'summary.json'}")
    print(f"plot:    {out / 'rates.png'}")
    if burn_in_map:
        from ._burnin import burn_in

        result.plot_burn_in(out / "burn_in.png")
        print(f"burn-in: {out / 'burn_in.png'}  (m from which the ratio CI covers 1, per T: "
              + ", ".join(f"T={r['T']}: {r['m']}" for r in burn_in(result)) + ")")  # fmt: skip


def cmd_merge(args) -> int:
    """Merges the job-array shards in DIR (one line, exit 2, for a missing or duplicated one)."""
    from ._merge import merge_shards

    _use_cpu_cores(args.cpu_devices)  # the device summary, as the shards' runs recorded it
    out = Path(args.dir)
    result = merge_shards(out)
    print(_format_table(result.table))
    print()
    print(_format_slopes(result.slopes()))
    _print_outputs(result, out, args.burn_in_map)
    return 0


def cmd_fit(args) -> int:
    """Fits the config's model to an array of a .npz archive and prints `FitResult.summary()`;
    with --json also writes its numbers. Every problem with the config, the archive or the data
    is one line and exit 2, before the fit."""
    from ._config import build_model_in_dtype, config_dtype, read_fit_config

    raw = read_fit_config(args.config)
    json_path = _check_json_path(args.json)
    import jax

    jax.config.update("jax_enable_x64", config_dtype(raw) == "float64")  # before any array exists
    model = build_model_in_dtype(raw)
    data, key, lengths = _load_fit_data(Path(args.data), args.key, args.lengths)
    _check_fit_data(model, data, key, lengths, args.lengths)
    _use_compilation_cache(not args.no_cache)
    result = _fit_config_model(model, data, lengths, raw.get("fit", {}), key, args.lengths)
    print(result.summary(args.alpha))
    if not bool(result.converged):
        print(f"trajax: warning: the fit did not succeed ({result.result!r}); see its message above",
              file=sys.stderr)  # fmt: skip
    if json_path is not None:
        _write_fit_json(json_path, result, args, key, raw)
        print(f"json: {json_path}")
    return 0


def _check_json_path(path) -> Path | None:
    if path is None:
        return None
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"--json: {path} is a directory; give a file name")
    if not path.parent.is_dir():
        raise ValueError(f"--json: directory {path.parent} does not exist")
    return path


def _load_fit_data(path: Path, key: str | None, lengths_key: str | None):
    """(data, its key, lengths or None) from the .npz archive at `path`."""
    import zipfile

    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ValueError(f"DATA: no such file: {path}") from None
    except IsADirectoryError:
        raise ValueError(f"DATA: {path} is a directory; give a .npz archive (numpy.savez)") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"DATA: cannot read {path} as a NumPy .npz archive ({err})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(
            f"DATA: {path} holds one array (.npy); save an .npz archive: numpy.savez(path, x=data)"
        )
    with archive:
        names = list(archive.files)
        if key is None:
            candidates = [name for name in names if name != lengths_key]
            if len(candidates) != 1:
                raise ValueError(
                    f"--key: {path} holds {len(candidates)} arrays {candidates}; name the data with --key"
                )
            key = candidates[0]
        elif key not in names:
            raise ValueError(f"--key: no array {key!r} in {path}; it holds {names}")
        if lengths_key is not None and lengths_key not in names:
            raise ValueError(f"--lengths: no array {lengths_key!r} in {path}; it holds {names}")
        try:
            data = archive[key]
            lengths = None if lengths_key is None else archive[lengths_key]
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            raise ValueError(f"DATA: cannot read the arrays of {path} ({err})") from None
    return data, key, lengths


def _check_fit_data(model, data, key: str, lengths, lengths_key: str | None) -> None:
    """Shape (m, T, *state) as the model simulates, real numbers, lengths whole numbers in
    2..T, no NaN or inf inside any trajectory's length (NaN past it is padding)."""
    where = f"DATA array {key!r}"
    _check_shape(model, data, where)
    m, T = data.shape[:2]
    valid = np.ones((m, T), bool)
    if lengths is not None:
        _check_lengths(lengths, m, T, f"--lengths array {lengths_key!r}", key)
        valid = np.arange(T)[None, :] < lengths[:, None]
    if np.issubdtype(data.dtype, np.floating):
        i, t = np.nonzero(~np.isfinite(data).reshape(m, T, -1).all(axis=-1) & valid)
        if i.size:
            inside = (
                f"within its length {lengths[i[0]]}"
                if lengths is not None
                else "(no --lengths: every state counts; --lengths NAME for trajectories padded with NaN)"
            )
            raise ValueError(f"{where}: trajectory {i[0]} has a NaN or inf at state {t[0]} {inside}")


def _check_shape(model, data, where: str) -> None:
    import jax

    from ._simulate import trajectory_shapes

    spec = trajectory_shapes(model, 2)
    if not isinstance(spec, jax.ShapeDtypeStruct):
        raise ValueError(
            f"model.name: trajax fit reads one array, but a {type(model).__name__} trajectory is "
            f"{jax.tree.structure(spec)}; fit it from Python (tj.fit)"
        )
    state = spec.shape[1:]
    expected = "(m, T" + "".join(f", {s}" for s in state) + ")"
    if data.ndim != 2 + len(state) or data.shape[2:] != state or data.shape[0] < 1 or data.shape[1] < 2:
        raise ValueError(
            f"{where}: expected shape {expected} (trajectories, states{', state' if state else ''}) with "
            f"T >= 2 for {type(model).__name__}, got {data.shape}"
        )
    real = np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)
    if data.dtype == np.bool_ or not real:
        raise ValueError(f"{where}: expected real numbers, got dtype {data.dtype}")


def _check_lengths(lengths, m: int, T: int, where: str, key: str) -> None:
    if lengths.shape != (m,):
        raise ValueError(
            f"{where}: expected shape ({m},) (one per trajectory of {key!r}), got {lengths.shape}"
        )
    if np.issubdtype(lengths.dtype, np.floating):
        bad = np.nonzero(~np.isfinite(lengths) | (lengths != np.round(lengths)))[0]
        if bad.size:
            raise ValueError(
                f"{where}: expected whole numbers of states, got {lengths[bad[0]]} for trajectory {bad[0]}"
            )
    elif lengths.dtype == np.bool_ or not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError(f"{where}: expected integers (numbers of states), got dtype {lengths.dtype}")
    bad = np.nonzero((lengths < 2) | (lengths > T))[0]
    if bad.size:
        raise ValueError(
            f"{where}: expected 2 <= lengths <= T = {T}, got {lengths[bad[0]]} for trajectory {bad[0]}"
        )


def _fit_config_model(model, data, lengths, options: dict, key: str, lengths_key: str | None):
    """`tj.fit` with the config's [fit] options; its ValueErrors renamed after the config key or
    argument they concern. The result knows its number of trajectories."""
    import equinox as eqx
    import jax.numpy as jnp

    from ._fit import fit

    if lengths is not None:
        lengths = lengths.astype(np.int64)
    try:
        result = fit(model, data, lengths=lengths, **options)
    except ValueError as err:
        message = str(err)
        head, _, rest = message.partition(":")
        if head in options or head in ("method", "init", "max_steps", "tol"):
            raise ValueError(f"fit.{message}") from None
        if head == "data":
            raise ValueError(f"DATA array {key!r}:{rest}") from None
        if head == "lengths":
            raise ValueError(f"--lengths array {lengths_key!r}:{rest}") from None
        raise
    m = jnp.asarray(np.shape(data)[0])
    return eqx.tree_at(lambda r: r.num_trajectories, result, m, is_leaf=lambda x: x is None)


def _finite_or_none(x):
    """JSON has no NaN: NaN and inf (nested in lists too) become null."""
    if isinstance(x, list):
        return [_finite_or_none(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _write_fit_json(path: Path, result, args, key: str, raw: dict) -> None:
    from ._summary import summary_values

    values = {k: _finite_or_none(v) for k, v in summary_values(result, args.alpha).items()}
    values["converged"] = bool(result.converged)
    values["data"] = {"path": str(args.data), "key": key, "lengths": args.lengths}
    values["config"] = raw
    try:
        path.write_text(json.dumps(values, indent=2, default=str) + "\n")
    except OSError as err:
        raise ValueError(f"--json: cannot write {path}: {err.strerror or err}") from None


class _Interrupts:
    """The CLI's SIGINT handler: raises KeyboardInterrupt like Python's, and also counts, so an
    interrupt that a callback swallows (JAX's garbage-collection callback catches exceptions;
    about one Ctrl-C in six during a sweep was lost that way) still stops the run at the next
    finished cell (`check`, called from the progress hook)."""

    def __init__(self):
        self.count = 0

    def __call__(self, signum, frame):
        self.count += 1
        raise KeyboardInterrupt

    def check(self) -> None:
        if self.count:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self):
        """Context manager: this handler for SIGINT (main thread, SIGINT not ignored)."""
        previous = signal.getsignal(signal.SIGINT)
        active = (
            previous is signal.default_int_handler and threading.current_thread() is threading.main_thread()
        )
        self.count = 0  # a new run: interrupts counted by an earlier run in this process are spent
        if active:
            signal.signal(signal.SIGINT, self)
        try:
            yield
        finally:
            if active:
                signal.signal(signal.SIGINT, previous)


_INTERRUPTS = _Interrupts()


def _progress(quiet: bool):
    """The progress of a CLI sweep: a line per cell unless `quiet` (no block lines), then a stop
    if an interrupt was swallowed."""
    from ._progress import TextProgress

    class CommandLineProgress(TextProgress):
        def cell(self, done, total, row, timing, eta) -> None:
            if not quiet:
                super().cell(done, total, row, timing, eta)
            _INTERRUPTS.check()

    return CommandLineProgress(blocks=False)


def _use_cpu_cores(count) -> None:
    """Exposes `count` CPU devices (default: one per core) with `tj.use_cpu_devices`, so that
    a CPU sweep shards its replicates over every core: XLA runs a sweep's many small kernels on
    one thread each (see benchmarks/results/main_job.json, which records the device count).
    Results do not depend on the device count. Without `count`, the user's
    XLA_FLAGS=--xla_force_host_platform_device_count wins. Once JAX has started in this process
    (the CLI called in-process), the devices stay as they are; an explicit `count` that differs
    is noted on stderr."""
    from ._devices import use_cpu_devices

    if count is not None and count < 1:
        raise ValueError(f"--cpu-devices: expected a positive number of devices, got {count}")
    if count is None and "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return
    try:
        use_cpu_devices(count)
    except RuntimeError:  # JAX already started in this process (trajax called in-process)
        if count is not None:
            print(f"trajax: note: --cpu-devices {count} has no effect, JAX has already started in "
                  "this process", file=sys.stderr)  # fmt: skip


def _cache_dir() -> Path:
    """Where `trajax sweep` keeps JAX's persistent compilation cache: $TRAJAX_CACHE_DIR, else
    JAX's own setting (JAX_COMPILATION_CACHE_DIR), else $XDG_CACHE_HOME/trajax/jax, else
    ~/.cache/trajax/jax."""
    import jax

    if os.environ.get("TRAJAX_CACHE_DIR"):
        return Path(os.environ["TRAJAX_CACHE_DIR"]).expanduser()
    if jax.config.jax_compilation_cache_dir:
        return Path(jax.config.jax_compilation_cache_dir).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "trajax" / "jax"


def _use_compilation_cache(enabled: bool) -> str:
    """Switches JAX's persistent compilation cache on (in `_cache_dir()`, every program, however
    fast it compiled) or, with `enabled` False or TRAJAX_NO_CACHE=1, off; returns a description
    for the run's output. Call before the sweep compiles its programs. A directory that cannot be written
    is warned about (one line) and the run goes on without the cache."""
    import jax

    if not enabled or os.environ.get("TRAJAX_NO_CACHE", "") not in ("", "0"):
        jax.config.update("jax_enable_compilation_cache", False)
        return "off"
    path = _cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".trajax-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        print(f"trajax: warning: compilation cache off, cannot write to {path} ({err.strerror or err}); "
              "set TRAJAX_CACHE_DIR to another directory, or pass --no-cache", file=sys.stderr)  # fmt: skip
        jax.config.update("jax_enable_compilation_cache", False)
        return "off (directory not writable)"
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # default: only ≥ 1 s
    return str(path)


def _init_distributed(args) -> None:
    """Joins a multi-process run (`jax.distributed`); CPU processes talk through gloo."""
    import jax

    if not args.coordinator or args.process_id is None:
        raise ValueError(
            "--coordinator: a multi-process sweep needs --coordinator HOST:PORT and --process-id"
        )
    if jax.config.jax_platforms in (None, "", "cpu"):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=args.coordinator, num_processes=args.num_processes, process_id=args.process_id
    )


def cmd_models(args) -> int:
    from ._config import MODELS, NOISES

    print("models ([model] name = ...):")
    for name, spec in MODELS.items():
        params = ", ".join([*spec.required, *(f"[{o}]" for o in spec.optional)])
        print(f"  {name:<18} {params:<28} {spec.help}")
    print("noise families (noise = { family = ..., ... }):")
    for name, spec in NOISES.items():
        params = ", ".join([*spec.required, *(f"[{o}]" for o in spec.optional)])
        print(f"  {name:<18} {params:<28} {spec.help}")
    return 0


def cmd_bench(args) -> int:
    from ._bench import run_benchmarks

    return run_benchmarks(quick=args.quick, out=args.out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trajax",
        description="Multi-trajectory MLE rate sweeps against the Fisher curve, and fits to your data.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_sweep = sub.add_parser("sweep", help="run a rate-verification sweep from a TOML config")
    p_sweep.add_argument("config", help="TOML config (see configs/)")
    p_sweep.add_argument("--out", help="output directory (default: runs/<config name>)")
    p_sweep.add_argument(
        "--resume", action="store_true", help="accepted for old scripts: a rerun into the same --out resumes"
    )
    p_sweep.add_argument(
        "--force", action="store_true", help="discard the results in --out (of this or another sweep)"
    )
    p_sweep.add_argument("--quiet", action="store_true", help="no progress lines")
    p_sweep.add_argument(
        "--burn-in-map",
        action="store_true",
        help="also draw DIR/burn_in.png (ratio and coverage over (m, T))",
    )
    p_sweep.add_argument("--coordinator", help="HOST:PORT of process 0, for a multi-process sweep")
    p_sweep.add_argument(
        "--num-processes", type=int, default=1, help="processes in the run (jax.distributed)"
    )
    p_sweep.add_argument("--process-id", type=int, help="this process's index, 0..num-processes-1")
    p_sweep.add_argument(
        "--cpu-devices", type=int, default=None, help="CPU devices to shard over (default: one per core)"
    )
    p_sweep.add_argument(
        "--no-cache",
        action="store_true",
        help="do not use JAX's persistent compilation cache (default: in $TRAJAX_CACHE_DIR, "
        "else $XDG_CACHE_HOME/trajax/jax or ~/.cache/trajax/jax)",
    )
    p_sweep.add_argument(
        "--shard", help="I/N: compute only the I-th of N contiguous shares of the replicates (job arrays)"
    )
    p_sweep.set_defaults(func=cmd_sweep)
    p_merge = sub.add_parser("merge", help="merge the job-array shards (--shard I/N) written into DIR")
    p_merge.add_argument("dir", help="the --out directory of the shards")
    p_merge.add_argument(
        "--cpu-devices", type=int, default=None, help="CPU devices for summary.json (default: one per core)"
    )
    p_merge.add_argument(
        "--burn-in-map",
        action="store_true",
        help="also draw DIR/burn_in.png (ratio and coverage over (m, T))",
    )
    p_merge.set_defaults(func=cmd_merge)
    p_fit = sub.add_parser(
        "fit", help="fit a config's model to your data (.npz) and print a statsmodels-like summary"
    )
    p_fit.add_argument("config", help="TOML config: its [model] table, [fit] options, [run] dtype")
    p_fit.add_argument("data", help=".npz archive holding the trajectories, shape (m, T) or (m, T, d)")
    p_fit.add_argument("--key", help="name of the data array in DATA (default: its only array)")
    p_fit.add_argument(
        "--lengths", help="name of an (m,) integer array in DATA: trajectory i is its first lengths[i] states"
    )
    p_fit.add_argument(
        "--json", help="also write the estimates, standard errors, intervals and criteria here"
    )
    p_fit.add_argument("--alpha", type=float, default=0.05, help="1 - confidence level of the intervals")
    p_fit.add_argument(
        "--no-cache", action="store_true", help="do not use JAX's persistent compilation cache"
    )
    p_fit.set_defaults(func=cmd_fit)
    p_models = sub.add_parser("models", help="list built-in models and noise families")
    p_models.set_defaults(func=cmd_models)
    p_bench = sub.add_parser(
        "bench", help="run the benchmark suite of the trajax checkout in the current directory"
    )
    p_bench.add_argument("--quick", action="store_true", help="small shapes, for a smoke run")
    p_bench.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    p_bench.set_defaults(func=cmd_bench)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with _INTERRUPTS.installed():
            return args.func(args)
    except ValueError as err:  # user errors: one line, exit 2, no traceback
        print(f"trajax: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "trajax: interrupted; finished cells are saved, rerun the same command to resume", file=sys.stderr
        )
        return 130
    except OSError as err:  # a file error during the run (disk full, say): one line too
        print(f"trajax: error: {err}; finished cells are saved, rerun to resume", file=sys.stderr)
        return 1


def run() -> None:
    """The console entry point (`trajax`, `python -m trajax`): `main`, then exit without
    tearing the interpreter down (`os._exit`): every file is written and closed by then, and
    the teardown of JAX's, equinox's and matplotlib's modules took most of a second after a sweep.
    The exit handlers (`atexit`: JAX waits for its pending effects, logging flushes) still run,
    except after an interrupt, which exits at once with 130: every finished cell is already on
    disk, and tearing down a JAX runtime interrupted during its start-up can crash (a SIGSEGV at
    exit was seen in about one Ctrl-C in four during the first seconds of a run)."""
    global _ONE_SHOT
    _ONE_SHOT = True
    status = main()
    if status != 130:
        atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe: Python's own exit would report 120 too
        status = status or 120
    os._exit(status)


if __name__ == "__main__":
    run()
