"""Writes docs/api.md, the API reference, from the docstrings of trajax's public names.

    python docs/gen_api.py           # rewrites docs/api.md
    python docs/gen_api.py --check   # exit 1 when docs/api.md differs from what it would write

The public names are whatever `trajax` exports (every attribute of `trajax/__init__.py` without a
leading underscore), the families of `trajax.noise` and, when that module exists, the functions of
`trajax.testing`. Each entry gives the signature, the docstring's first paragraph as its one-line
meaning, the rest of the docstring, its example, and for classes their fields and own methods.
tests/test_docs.py fails when docs/api.md is stale, so the reference cannot drift from the code.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import textwrap
import types
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API_MD = ROOT / "docs" / "api.md"
_EXAMPLE_HEADER = re.compile(r"^\s*Examples?:\s*$", re.M)
FUNCTIONS, MODELS, NOISE = "Functions", "Models", "Noise families (`tj.noise`)"
TYPES, CONSTANTS, TESTING = "Results and other types", "Constants", "Testing (`trajax.testing`)"


@dataclass
class Entry:
    """One public name: `qualname` as a user writes it (`tj.fit`), the object, its section."""

    qualname: str
    obj: object
    section: str
    methods: list = field(default_factory=list)


# ---------------------------------------------------------------------------- what is public
def _exported(module: types.ModuleType) -> list[str]:
    """Public attribute names of a module: its `__all__`, else every name without a leading
    underscore defined in trajax that is not a module (`trajax/__init__.py` only re-exports)."""
    names = getattr(module, "__all__", None)
    if names is None:  # names imported from other libraries (`partial`, `Array`) are not trajax's
        names = [
            n
            for n in dir(module)
            if not n.startswith("_")
            and getattr(getattr(module, n), "__module__", "trajax").startswith("trajax")
        ]
    return sorted(n for n in names if not isinstance(getattr(module, n, None), types.ModuleType))


def _optional_module(name: str) -> types.ModuleType | None:
    """The submodule `name` of trajax if this checkout has it, else None (a module found outside
    the package directory, e.g. through another checkout's editable install, does not count)."""
    import trajax

    package = Path(trajax.__file__).resolve().parent
    relative = Path(*name.split(".")[1:])
    if (
        not (package / relative.with_suffix(".py")).exists()
        and not (package / relative / "__init__.py").exists()
    ):
        return None
    return importlib.import_module(name)


def _section(obj, model_base) -> str:
    if isinstance(obj, type) and model_base is not None and issubclass(obj, model_base):
        return MODELS
    if isinstance(obj, type):
        return TYPES
    if callable(obj):
        return FUNCTIONS
    return CONSTANTS


def public_entries() -> list[Entry]:
    """Every public name of trajax, in the order api.md documents them."""
    import trajax

    model_base = getattr(trajax, "AbstractModel", None)
    entries = [Entry(f"tj.{n}", getattr(trajax, n), "") for n in _exported(trajax)]
    for e in entries:
        e.section = _section(e.obj, model_base)
    noise = _optional_module("trajax.noise")
    if noise is not None:
        entries += [Entry(f"tj.noise.{n}", getattr(noise, n), NOISE) for n in _exported(noise)]
    testing = _optional_module("trajax.testing")
    if testing is not None:
        entries += [Entry(f"trajax.testing.{n}", getattr(testing, n), TESTING) for n in _exported(testing)]
    order = [FUNCTIONS, MODELS, NOISE, TYPES, CONSTANTS, TESTING]
    entries.sort(key=lambda e: (order.index(e.section), _base_first(e.obj), e.qualname.lower()))
    public_classes = {e.obj for e in entries if isinstance(e.obj, type)}
    for e in entries:
        if isinstance(e.obj, type):
            e.methods = _own_members(e.obj, public_classes)
    return entries


def _base_first(obj) -> int:
    """Abstract bases (`AbstractModel`, `AbstractNoise`) open their section."""
    return 0 if isinstance(obj, type) and obj.__name__.startswith("Abstract") else 1


def _own_members(cls: type, public_classes: set) -> list[tuple[str, object]]:
    """Public methods and properties a class adds: defined in it and in none of its public bases
    (overrides of a documented base's hooks are documented there)."""
    bases = [b for b in cls.__mro__[1:] if b in public_classes]
    out = []
    for name, raw in vars(cls).items():
        if name.startswith("_") or any(name in vars(b) for b in bases):
            continue
        if isinstance(raw, property | classmethod | staticmethod) or inspect.isfunction(raw):
            out.append((name, raw))
        elif callable(raw) and hasattr(raw, "__wrapped__"):  # equinox's wrapped methods
            out.append((name, raw))
    return out


# ---------------------------------------------------------------------------- docstrings
def own_doc(obj) -> str:
    """The object's own docstring, cleaned; '' when it has none (a dataclass's generated
    signature does not count)."""
    doc = getattr(obj, "__doc__", None)
    if isinstance(obj, property):
        doc = obj.fget.__doc__
    elif isinstance(obj, classmethod | staticmethod):
        doc = obj.__func__.__doc__
    if not doc or (isinstance(obj, type) and doc.startswith(f"{obj.__name__}(")):
        return ""
    return inspect.cleandoc(doc)


def split_doc(doc: str) -> tuple[str, str, str]:
    """(one-line meaning, the rest before the example, the example)."""
    match = _EXAMPLE_HEADER.search(doc)
    body, example = (doc[: match.start()], doc[match.end() :]) if match else (doc, "")
    if not match and ">>>" in body:  # doctest lines without an "Example:" header
        cut = body.index(">>>")
        cut = body.rfind("\n", 0, cut) + 1
        body, example = body[:cut], body[cut:]
    paragraphs = body.strip().split("\n\n", 1)
    summary = " ".join(line.strip() for line in paragraphs[0].splitlines())
    rest = paragraphs[1].strip() if len(paragraphs) > 1 else ""
    return summary, rest, textwrap.dedent(example).strip("\n")


def first_sentence(summary: str) -> str:
    """The first sentence of a summary (a full stop followed by a capital or a backtick ends it)."""
    match = re.match(r"(.+?\.)\s+(?=[A-Z`])", summary)
    return (match.group(1) if match else summary) or "(no docstring yet)"


def has_example(obj) -> bool:
    return ">>>" in own_doc(obj)


# ---------------------------------------------------------------------------- rendering
def signature(qualname: str, obj) -> str:
    """`qualname(params) -> return` with parameter annotations dropped (they are in the text)."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return qualname
    params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
    if params and params[0].name in ("self", "cls") and not isinstance(obj, type):  # a method
        params = params[1:]
    text = str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))
    returns = sig.return_annotation
    if returns is not inspect.Signature.empty and not isinstance(obj, type) and returns not in (None, "None"):
        text += f" -> {returns if isinstance(returns, str) else inspect.formatannotation(returns)}"
    return qualname + text


def _fields(cls: type) -> list[tuple[str, str]]:
    """(field, comment) of a result container (no `__init__` of its own), comments read from the
    class source (`name: type  # comment`)."""
    names = list(getattr(cls, "__dataclass_fields__", {}))
    if not names or _is_constructed(cls):
        return []
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        source = ""
    out = []
    for name in names:
        match = re.search(rf"^\s+{re.escape(name)}\s*:[^#\n]*#\s*(.+)$", source, re.M)
        out.append((name, match.group(1).strip() if match else ""))
    return out


def _is_constructed(cls: type) -> bool:
    """True for classes with a hand-written constructor (models, noise families): their fields
    are internal storage, documented in the docstring."""
    for c in cls.__mro__:
        if c.__module__.startswith("trajax"):
            try:
                if re.search(r"^\s+def __init__\(", inspect.getsource(c), re.M):
                    return True
            except (OSError, TypeError):
                pass
    return False


def _enumeration_members(obj) -> list[tuple[str, str]]:
    """(member, message) of an `eqx.Enumeration` such as `tj.RESULTS`, else []."""
    names = getattr(obj, "_name_to_item", None)
    if not isinstance(names, dict):
        return []
    return [(name, str(obj[item])) for name, item in names.items()]


def _member_line(owner: str, name: str, raw) -> str:
    if isinstance(raw, property):
        label = f"`{owner}.{name}` (property)"
    else:
        label = f"`{owner}.{signature(name, raw.__func__ if isinstance(raw, classmethod) else raw)}`"
    summary = split_doc(own_doc(raw))[0] or "(no docstring)"
    return f"- {label}: {summary}"


def anchor(qualname: str) -> str:
    """GitHub's heading slug of `### \\`qualname\\``."""
    return re.sub(r"[^\w\- ]", "", qualname.lower()).replace(" ", "-")


def render_entry(e: Entry) -> str:
    summary, rest, example = split_doc(own_doc(e.obj))
    members = _enumeration_members(e.obj) if isinstance(e.obj, type) else []
    header = e.qualname if members else signature(e.qualname, e.obj)  # an enumeration is not called
    lines = [f"### `{e.qualname}`", "", "```python", header, "```", ""]
    lines += [summary or "*(no docstring yet)*", ""]
    if rest:
        lines += ["```text", rest, "```", ""]
    if isinstance(e.obj, type):
        if members:
            lines += ["Members:", ""] + [f"- `{e.qualname}.{n}`: {m or '(no message)'}" for n, m in members]
            lines += [""]
        fields = _fields(e.obj)
        if fields:
            lines += ["Fields:", ""] + [f"- `{n}`" + (f": {c}" if c else "") for n, c in fields] + [""]
        if e.methods:
            short = e.qualname.rsplit(".", 1)[-1]
            lines += (
                ["Methods and properties:", ""] + [_member_line(short, n, r) for n, r in e.methods] + [""]
            )
    if example:
        lines += ["Example:", "", "```python", example, "```", ""]
    return "\n".join(lines)


def render() -> str:
    entries = public_entries()
    out = [
        "# API reference",
        "",
        "<!-- Generated by `python docs/gen_api.py` from the docstrings; do not edit by hand. -->",
        "",
        "Every public name of trajax, generated from its docstring. `import trajax as tj`; the",
        "mathematics behind each name is in [theory.md](theory.md), the layout of the code in",
        "[architecture.md](architecture.md). Examples run as tests (`tests/test_docs.py`); they use",
        "JAX's default float32 unless they enable float64.",
        "",
    ]
    sections = list(dict.fromkeys(e.section for e in entries))
    for section in sections:
        out += [f"## {section}", ""]
        out += ["| name | meaning |", "|---|---|"]
        for e in entries:
            if e.section == section:
                summary = first_sentence(split_doc(own_doc(e.obj))[0]).replace("|", "\\|")
                out += [f"| [`{e.qualname}`](#{anchor(e.qualname)}) | {summary} |"]
        out += [""]
        out += [render_entry(e) for e in entries if e.section == section]
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not API_MD.exists() or API_MD.read_text() != text:
            print("docs/api.md is stale: run `python docs/gen_api.py`", file=sys.stderr)
            return 1
        return 0
    API_MD.write_text(text)
    print(f"wrote {API_MD.relative_to(ROOT)} ({len(public_entries())} public names)")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main(sys.argv[1:]))
