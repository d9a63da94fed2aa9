"""Per-stage code versions: upgrading lra reruns exactly the stages whose code changed.

Snakemake reruns a job when one of its `params:` changed since the job last ran, and then every
job downstream of it. Each rule passes `code=code_version("<stage>")` (`lra.stages`): a short
hash of the code that decides the stage's output. That code is found, not listed: starting from
the stage's function (its `module:function` in the stage table), every top-level function, class
and constant of `lra` it refers to (by name, by `module.name`, or by import), and what those
refer to, transitively. So an edit to `lra/diffusion/train.py` reruns train → predict → score →
summary and never embed, and a new helper is covered the day it is called, with no list to keep up
to date.

What cannot change an output is left out of the hash: comments, docstrings, log calls and the
messages of raised errors (a raise stops the stage), and the modules in `IGNORED` (display,
thread counts, argument parsing). A module reached by no stage and not in `IGNORED` fails a test.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the lra package whose code is hashed

# Modules that decide no stage's output, and why. Their code never reruns anything.
IGNORED = {
    "lra": "the package docstring and version string",
    "lra.__main__": "the `python -m lra` entry point",
    "lra.cli": "parses arguments and forwards them; a rule's values reach the stage through params",
    "lra.stages": "the stage table: which function a command runs (the versions start from those functions)",
    "lra.workflow": "Snakemake side: which jobs run and with which params (Snakemake tracks those itself)",
    "lra.core.versions": "this file",
    "lra.core.errors": "the error type: what a failing stage says, not what a stage writes",
    "lra.core.progress": "progress display",
    "lra.core.threads": "how many threads compute, not what they compute",
    "lra.core.paths": "where files go: Snakemake's own paths and messages, not what a stage writes",
    "lra.data.synthetic": "benchmark data for bench/, used by no stage",
    **{f"lra.{p}": "a package's docstring" for p in ("core", "data", "embed", "retrieval", "diffusion", "score")},
}
LOG_CALLS = {"debug", "info", "warning", "error", "exception"}


def code_version(target: str, root: Path = ROOT) -> str:
    """12 hex digits that change when, and only when, code deciding the output of the stage
    function `target` ("module:function") changes."""
    h = hashlib.sha256()
    for module, name in sorted(closure(target, root)):
        h.update(f"{module}:{name}\n".encode())
        h.update(_module(Path(root), module).code(name).encode())
    return h.hexdigest()[:12]


def closure(target: str, root: Path = ROOT) -> set[tuple[str, str]]:
    """(module, name) of every top-level definition the stage function `target` ("module:function")
    reaches; name "" stands for a module's statements that bind no name (they run whenever the
    module is imported)."""
    root = Path(root)
    module, _, function = target.partition(":")
    todo, seen = [(module, function)], set()
    while todo:
        via: list[str] = []  # modules a name was re-exported through: they run on import too
        found = _resolve(root, *todo.pop(), via=via)
        for item in found + [(m, "") for m in via]:
            if item in seen or item[0] in IGNORED:
                continue
            seen.add(item)
            module = _module(root, item[0])
            todo.extend(module.refs(item[1]))
            if (item[0], "") not in seen:
                seen.add((item[0], ""))
                todo.extend(module.refs(""))
    return seen


def modules(root: Path = ROOT) -> set[str]:
    """Every module of the package, dotted (lra, lra.stages, lra.diffusion.train, ...)."""
    root = Path(root)
    out = set()
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        out.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def _path(root: Path, module: str) -> Path | None:
    base = root.parent.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _resolve(root: Path, module: str, name: str, via: list | None = None) -> list[tuple[str, str]]:
    """What `module.name` is: a definition there, one it imports from elsewhere, or a submodule."""
    if _path(root, module) is None:
        return []
    m = _module(root, module)
    if name == "" or name in m.defs:
        return [(module, name)]
    if name in m.imports:
        target, attr = m.imports[name]
        if via is not None:
            via.append(module)
        return [(target, "")] if attr is None else _resolve(root, target, attr, via)
    if _path(root, f"{module}.{name}"):  # `from package import submodule`, as Python resolves it
        return [(f"{module}.{name}", "")]
    return []


@functools.lru_cache(maxsize=None)
def _module(root: Path, name: str) -> "_Module":
    return _Module(root, name)


class _Module:
    """One parsed module: its top-level definitions, its lra imports, and its code without what
    cannot change an output."""

    def __init__(self, root: Path, name: str):
        path = _path(root, name)
        self.name, self.root = name, root
        self.package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        source = path.read_text()
        tree = ast.parse(source)
        self.lines = _stripped_lines(source, tree)
        self.defs: dict[str, list[ast.stmt]] = {"": []}
        self.imports: dict[str, tuple[str, str | None]] = {}
        for i, node in enumerate(tree.body):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self.imports.update(self._imported(node))
            elif i == 0 and _is_docstring(node):
                continue
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                # a decorator may register the definition at import time: keep it with the module
                self.defs.setdefault("" if node.decorator_list else node.name, []).append(node)
                self.defs.setdefault(node.name, [])
            elif _bound(node):
                for target in _bound(node):
                    self.defs.setdefault(target, []).append(node)
            else:
                self.defs[""].append(node)

    def code(self, name: str) -> str:
        out = []
        for node in self.defs.get(name, []):
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            out += [line.rstrip() for line in self.lines[first - 1:node.end_lineno] if line.strip()]
        return "\n".join(out) + "\n"

    def refs(self, name: str) -> list[tuple[str, str]]:
        """(module, name) pairs the definition refers to outside itself."""
        out = []
        for node in self.defs.get(name, []):
            local_imports = {}
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    local_imports.update(self._imported(sub))
            bound = _locals(node) - set(local_imports)
            scope = {**self.imports, **local_imports}
            out += [(t, a or "") for t, a in local_imports.values()]
            for sub in ast.walk(node):
                if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id in scope \
                        and sub.value.id not in bound:
                    targets = _resolve(self.root, *scope[sub.value.id])
                    if len(targets) == 1 and targets[0][1] == "":  # module.attr
                        out.append((targets[0][0], sub.attr))
                    else:
                        out += targets
                elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id not in bound:
                    if sub.id in scope:
                        out.append((scope[sub.id][0], scope[sub.id][1] or ""))
                    elif sub.id in self.defs:
                        out.append((self.name, sub.id))
        return out

    def _imported(self, node) -> dict[str, tuple[str, str | None]]:
        """Local name → (lra module, name imported from it, or None for `import lra.x`), lra imports
        only; whether the name is a submodule is decided when it is resolved, as Python does."""
        out = {}
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "lra" or a.name.startswith("lra."):
                    out[a.asname or a.name.split(".")[0]] = ((a.name if a.asname else "lra"), None)
            return out
        if node.level:
            base = self.package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            source = f"{base}.{node.module}" if node.module else base
        else:
            source = node.module or ""
        if source != "lra" and not source.startswith("lra."):
            return out
        for a in node.names:
            out[a.asname or a.name] = (source, a.name)
        return out


def _is_docstring(node) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _bound(node) -> list[str]:
    """Names a top-level assignment binds."""
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    if not isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        return []
    return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]


def _locals(node) -> set[str]:
    """Every name bound inside a definition (arguments, assignments, loop and with targets,
    nested definitions): those never refer to a top-level name. Scopes are flattened."""
    out = set()
    for sub in ast.walk(node):
        if sub is node:
            continue
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            out.add(sub.id)
        elif isinstance(sub, ast.arg):
            out.add(sub.arg)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(sub.name)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            out.update(a.asname or a.name.split(".")[0] for a in sub.names)
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            out.add(sub.name)
    return out


def _stripped_lines(source: str, tree: ast.Module) -> list[str]:
    """The source's lines without comments, docstrings, log calls and raise messages (each raise
    becomes a bare `raise`), line numbers kept."""
    lines = source.split("\n")
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                row, col = tok.start
                lines[row - 1] = lines[row - 1][:col]
    except (tokenize.TokenError, SyntaxError):  # cannot happen for a module that parsed; keep comments
        pass
    spans = []
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body \
                and _is_docstring(body[0]):
            spans.append((body[0], b""))
        elif isinstance(node, ast.Raise):
            spans.append((node, b"raise"))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and _is_log_call(node.value.func):
            spans.append((node, b""))
    data = [line.encode() for line in lines]  # ast offsets count UTF-8 bytes
    for node, keep in sorted(spans, key=lambda s: (s[0].lineno, s[0].col_offset), reverse=True):
        a, b = node.lineno - 1, node.end_lineno - 1
        if a == b:
            data[a] = data[a][:node.col_offset] + keep + data[a][node.end_col_offset:]
        else:
            data[a] = data[a][:node.col_offset] + keep
            data[a + 1:b] = [b""] * (b - a - 1)
            data[b] = data[b][node.end_col_offset:]
    return [line.decode(errors="replace") for line in data]


def _is_log_call(func) -> bool:
    """log.info(...), logger.warning(...), logging.debug(...), or a `log(...)` callback."""
    if isinstance(func, ast.Name):
        return func.id == "log"
    return (isinstance(func, ast.Attribute) and func.attr in LOG_CALLS and isinstance(func.value, ast.Name)
            and func.value.id in ("log", "logger", "logging"))
