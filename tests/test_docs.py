"""The documentation stays true: docs/api.md is generated from the docstrings and current, every
public name has a docstring with an example that runs, every relative link resolves inside the
repository, and nothing points readers at files outside it."""

import doctest
import importlib.util
import re
import sys
from pathlib import Path

import equinox as eqx
import jax
import pytest

import trajax as tj

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("gen_api", ROOT / "docs" / "gen_api.py")
gen_api = sys.modules.setdefault("gen_api", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(gen_api)

ENTRIES = gen_api.public_entries()


def _ids(entry):
    return entry.qualname


# ---------------------------------------------------------------------------- api.md
def test_api_md_is_generated_from_the_docstrings():
    expected = gen_api.render()
    actual = (ROOT / "docs" / "api.md").read_text()
    assert actual == expected, "docs/api.md is stale: run `python docs/gen_api.py`"


def test_api_md_covers_every_public_name():
    """Independently of the generator: every non-module attribute of `trajax` and `trajax.noise`
    without a leading underscore has a heading in docs/api.md."""
    text = (ROOT / "docs" / "api.md").read_text()
    modules = {"tj": tj, "tj.noise": tj.noise}
    names = [
        f"{prefix}.{n}"
        for prefix, module in modules.items()
        for n in dir(module)
        if not n.startswith("_") and not isinstance(getattr(module, n), type(tj))
    ]
    assert len(names) > 20
    missing = [n for n in names if f"### `{n}`" not in text]
    assert not missing, f"docs/api.md does not document {missing}: run `python docs/gen_api.py`"


def test_generator_documents_names_that_do_not_exist_yet(monkeypatch):
    """The generator documents whatever trajax exports: an enumeration of fit outcomes and a new
    function appear with their members and signature, without changes to the generator."""

    class RESULTS(eqx.Enumeration):
        """Why a fit stopped."""

        successful = ""
        max_steps_reached = "The optimiser ran out of steps; raise `max_steps`."

    def covariance(model, data, *, kind="observed"):
        """Covariance of θ̂.

        Example:
            >>> 1 + 1
            2
        """

    RESULTS.__module__, covariance.__module__ = "trajax._results", "trajax._inference"
    monkeypatch.setattr(tj, "RESULTS", RESULTS, raising=False)
    monkeypatch.setattr(tj, "covariance", covariance, raising=False)
    text = gen_api.render()
    assert "### `tj.RESULTS`" in text and "`tj.RESULTS.max_steps_reached`: The optimiser ran out" in text
    assert "tj.covariance(model, data, *, kind='observed')" in text
    assert text != (ROOT / "docs" / "api.md").read_text()  # and the staleness test would notice


# ---------------------------------------------------------------------------- docstring examples
@pytest.mark.parametrize("entry", ENTRIES, ids=_ids)
def test_public_name_has_a_docstring_with_an_example(entry):
    doc = gen_api.own_doc(entry.obj)
    assert doc, f"{entry.qualname} has no docstring"
    if isinstance(entry.obj, type) and issubclass(entry.obj, BaseException):
        return  # warnings and errors need a docstring, not an example
    assert gen_api.has_example(entry.obj), f"{entry.qualname}: its docstring has no `>>>` example"


def _doctests(entry):
    module = sys.modules[getattr(entry.obj, "__module__", "trajax")]
    finder = doctest.DocTestFinder(recurse=isinstance(entry.obj, type))
    return [t for t in finder.find(entry.obj, entry.qualname, module=module, globs={}) if t.examples]


@pytest.mark.parametrize("entry", [e for e in ENTRIES if gen_api.has_example(e.obj)], ids=_ids)
def test_docstring_example_runs(entry):
    """Each example runs as a user's fresh session would: float32, standard dtype promotion."""
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = _doctests(entry)
    assert tests
    with jax.enable_x64(False), jax.numpy_dtype_promotion("standard"):
        for test in tests:
            runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} failing example lines in {entry.qualname} (see above)"


# ---------------------------------------------------------------------------- links
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_PATH_IN_CODE = re.compile(r"`((?:trajax|tests|docs|configs|benchmarks|examples)/[\w./-]+)`")


def _markdown_files():
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    notebooks = sorted((ROOT / "examples").glob("*.ipynb"))
    return files + notebooks


def _markdown_text(path: Path) -> str:
    if path.suffix != ".ipynb":
        return path.read_text()
    import json

    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = _markdown_text(path)
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return {_slug(h) for h in re.findall(r"^#+\s+(.+)$", text, flags=re.M)}


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(path):
    text = _markdown_text(path)
    text_without_code = re.sub(r"```.*?```", "", text, flags=re.S)
    for target in _LINK.findall(text_without_code):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, fragment = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        assert resolved.exists(), f"{path.name}: link {target!r} does not resolve"
        assert ROOT in resolved.parents or resolved == ROOT, f"{path.name}: {target!r} leaves the repo"
        if fragment and resolved.suffix in (".md", ".ipynb"):
            assert fragment in _anchors(resolved), f"{path.name}: no heading #{fragment} in {file_part}"
    # file names written as code must exist too
    for named in _PATH_IN_CODE.findall(text):
        if not any(ch in named for ch in "*?"):
            assert (ROOT / named.rstrip(".")).exists(), f"{path.name}: `{named}` is not in the repository"


def test_no_reference_to_notes_outside_the_repository():
    pattern = re.compile(r"SPEC\.md|API\.md|SPEC §|DESIGN\.md|STYLE\.md")
    # the package, its docs and notebooks, the configs users copy, the examples and the tests
    # (whose comments cite the theory by section), this file excepted
    user_facing = [
        *_markdown_files(),
        *sorted((ROOT / "trajax").rglob("*.py")),
        *sorted((ROOT / "configs").glob("*.toml")),
        *sorted((ROOT / "examples").glob("*.py")),
        *sorted(p for p in (ROOT / "tests").glob("*.py") if p.name != Path(__file__).name),
    ]
    offenders = [str(p.relative_to(ROOT)) for p in user_facing if pattern.search(p.read_text())]
    assert not offenders, (
        f"these cite files outside the repository; point them at docs/theory.md: {offenders}"
    )
