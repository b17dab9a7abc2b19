"""The pages that cannot drift: the benchmark figures of docs/performance.md and docs/scale.md are
generated from benchmarks/results/ and current, no measured figure is typed into the prose or
into a package docstring, the module map of docs/architecture.md is the package's, docs/cli.md
names every option, config key, model, noise family and environment variable, and every
`python` block of the README and docs/ runs in a test or says why it cannot."""

import ast
import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, DOCS / f"{name}.py")
    module = sys.modules.setdefault(name, importlib.util.module_from_spec(spec))
    if not hasattr(module, "ROOT"):
        spec.loader.exec_module(module)
    return module


gen_figures = _load("gen_figures")
gen_api = _load("gen_api")

_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_GENERATED = re.compile(r"<!-- figures:([\w-]+) -->.*?<!-- /figures:\1 -->", re.S)
# a measured figure: a time (3.6 s, 61 ms, 0.47 → 0.41 s, 60–80 s), a speed-up (4.2×, 2.4–2.6×;
# not a shape such as 2×2 or 2×10³) or a percentage faster or slower (settings such as a memory
# budget of 1024 MiB are not measurements)
_FIGURE = re.compile(
    r"\d(?:\.\d+)?\s?(?:s|ms|µs|seconds)\b"
    r"|\d(?:\.\d+)?×(?!\d)"
    r"|\d+%\s+(?:faster|slower|longer|shorter|less|more)\b"
)


# ---------------------------------------------------------------------------- generated figures
@pytest.mark.parametrize("page", gen_figures.PAGES, ids=lambda p: p.name)
def test_generated_figures_are_current(page):
    text = page.read_text()
    assert gen_figures.blocks_used(text), f"{page.name} has no generated block"
    assert gen_figures.render(text) == text, f"docs/{page.name} is stale: run `python docs/gen_figures.py`"


def test_every_renderer_has_a_place():
    used = [name for page in gen_figures.PAGES for name in gen_figures.blocks_used(page.read_text())]
    assert sorted(used) == sorted(gen_figures.BLOCKS), "each renderer is used exactly once"


def test_a_changed_result_makes_the_page_stale(monkeypatch):
    page = DOCS / "performance.md"
    original = gen_figures.load

    def load(name):
        r = original(name)
        if name == "main_job":
            r = {**r, "speedup_end_to_end": r["speedup_end_to_end"] * 2}
        return r

    monkeypatch.setattr(gen_figures, "load", load)
    assert gen_figures.render(page.read_text()) != page.read_text()


@pytest.mark.parametrize(
    "page",
    [ROOT / "README.md", *(DOCS / n for n in ("performance.md", "scale.md", "cli.md"))],
    ids=lambda p: p.name,
)
def test_prose_quotes_no_measured_figure(page):
    """Figures live in generated blocks only, so a rerun of the benchmarks cannot leave a stale
    one behind in the text."""
    prose = _GENERATED.sub("", _FENCE.sub("", page.read_text()))
    found = [m.group(0) for m in _FIGURE.finditer(prose)]
    assert not found, f"{page.name} quotes measured figures outside generated blocks: {found}"


# ---------------------------------------------------------------------------- docstrings
# Modules allowed to quote timings in their docstrings while being reworked (none today; strict:
# a cleaned module fails here until it leaves the set).
_STILL_QUOTING: set[str] = set()


def _docstrings(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                yield getattr(node, "name", path.stem), doc


def _package_modules():
    return sorted((ROOT / "trajax").rglob("*.py"))


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, marks=pytest.mark.xfail(strict=True, reason="being refactored (issue 26)"))
        if p.name in _STILL_QUOTING and p.parent.name == "trajax"
        else p
        for p in _package_modules()
    ],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_no_benchmark_timings_in_docstrings(path):
    found = [(name, m.group(0)) for name, doc in _docstrings(path) for m in _FIGURE.finditer(doc)]
    assert not found, f"{path.name}: move these figures to docs/performance.md: {found}"


# ---------------------------------------------------------------------------- module map
def test_module_map_is_the_package():
    text = (DOCS / "architecture.md").read_text()
    section = text.split("## Module map", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(trajax/[\w/]+\.py)` \| (.+?) \|$", section, flags=re.M)
    mapped = [path for path, _ in rows]
    assert len(mapped) == len(set(mapped)), "a module appears twice in the map"
    package = {str(p.relative_to(ROOT)) for p in _package_modules()}
    missing, stale = package - set(mapped), set(mapped) - package
    assert not missing, f"docs/architecture.md's module map lacks {sorted(missing)}"
    assert not stale, f"docs/architecture.md's module map names modules that do not exist: {sorted(stale)}"
    assert all(purpose.strip() for _, purpose in rows)


# ---------------------------------------------------------------------------- cli.md
def _options():
    from trajax._cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    for command, p in sub.choices.items():
        for action in p._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    yield command, option


def test_cli_md_names_every_option_key_model_and_variable():
    from trajax import _config

    text = (DOCS / "cli.md").read_text()
    options = list(_options())
    missing = [f"trajax {c}" for c in sorted({c for c, _ in options}) if f"`trajax {c}" not in text]
    missing += [f"trajax {c} {o}" for c, o in options if f"`{o}" not in text]
    for section, keys in _config.SECTIONS.items():
        missing += [f"[{section}] {k}" for k in sorted(keys or ()) if f"`{k}`" not in text]
    missing += [f"model {n}" for n in _config.MODELS if f"`{n}`" not in text]
    missing += [f"noise {n}" for n in _config.NOISES if f"`{n}`" not in text]
    source = "\n".join(p.read_text() for p in _package_modules())
    missing += [v for v in sorted(set(re.findall(r"TRAJAX_[A-Z_]+", source))) if f"`{v}" not in text]
    assert not missing, f"docs/cli.md does not document {missing}"


# ---------------------------------------------------------------------------- examples in the docs
_PYTHON = re.compile(r"(<!-- not-run: (.*?) -->\n)?```python\n(.*?)```", re.S)


def _python_blocks(path: Path):
    """(code, reason it is not run or None) of every ```python block."""
    return [(m.group(3), m.group(2)) for m in _PYTHON.finditer(path.read_text())]


def test_every_readme_block_runs_in_test_readme():
    """tests/test_readme.py executes every ```python block of the README in order; none may be
    marked not runnable there."""
    blocks = _python_blocks(ROOT / "README.md")
    assert blocks and all(reason is None for _, reason in blocks)
    assert "```python" in (ROOT / "tests" / "test_readme.py").read_text()


@pytest.mark.parametrize(
    "path", sorted(p for p in DOCS.glob("*.md") if p.name != "api.md"), ids=lambda p: p.name
)
def test_doc_examples_run(path, tmp_path, monkeypatch):
    """Each page's blocks run in order in one namespace, as a reader pasting them would, in a
    scratch directory; a block that cannot run here is marked `<!-- not-run: reason -->`."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for code, reason in _python_blocks(path):
        if reason is not None:
            assert reason.strip(), f"{path.name}: a not-run block must say why"
            continue
        exec(compile(code, str(path), "exec"), namespace)


def test_api_md_blocks_are_signatures_or_docstring_examples():
    """docs/api.md is generated (tests/test_docs.py checks it is current): its ```python blocks
    are signatures, which are not code to run, or the docstrings' examples, which
    test_docstring_example_runs in tests/test_docs.py runs as doctests."""
    headers, examples = set(), set()
    for e in gen_api.public_entries():
        members = gen_api._enumeration_members(e.obj) if isinstance(e.obj, type) else []
        headers.add(e.qualname if members else gen_api.signature(e.qualname, e.obj))
        if gen_api.has_example(e.obj):
            examples.add(gen_api.split_doc(gen_api.own_doc(e.obj))[2])
    blocks = _python_blocks(DOCS / "api.md")
    assert len(blocks) > 20
    unknown = [c for c, _ in blocks if c.strip("\n") not in headers | examples]
    assert not unknown, f"docs/api.md has python blocks that no test runs: {unknown[:3]}"


def test_config_examples_are_valid_configs(tmp_path):
    """Every ```toml block of the README and docs/ passes the checks of `trajax sweep`."""
    from trajax._config import read_config

    blocks = [
        (path, code)
        for path in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
        for code in re.findall(r"```toml\n(.*?)```", path.read_text(), flags=re.S)
    ]
    assert blocks
    for i, (path, code) in enumerate(blocks):
        config = tmp_path / f"{path.stem}-{i}.toml"
        config.write_text(code)
        read_config(config)  # raises a ConfigError naming the key
