"""gunpowder 1.4.4's own test files for the nodes flowgraph has, run with ``import flowgraph as gp``.

flowgraph promises that a gunpowder user changes the import and their code runs (issue 9). This
script measures that promise with gunpowder's tests as the user's code:

1. get gunpowder 1.4.4's ``tests/cases`` files: from its sdist on PyPI when the sdist holds them
   (1.4.4's does not), else from ``--source DIR`` (a git checkout of gunpowder, read at tag
   ``v1.4.4`` with ``git show``, or a directory holding ``tests/cases``), else from a shallow
   ``git clone`` of github.com/funkelab/gunpowder at that tag;
2. copy the files listed in ``CASES`` into a temporary directory (never into this repository:
   gunpowder's tests are not committed here) and rewrite their import lines only:
   ``import gunpowder as gp`` -> ``import flowgraph as gp``, ``from gunpowder[.x] import A, B`` ->
   ``from <the flowgraph module holding A> import A`` (``MODULE_OF``; names flowgraph lacks are
   imported from ``flowgraph`` so that the ImportError names them);
3. run pytest on them in a subprocess with flowgraph's Python, and on the unmodified files in a
   separate venv with gunpowder 1.4.4 (created on first use, as for ``benchmark.py``), with
   ``-p no:cacheprovider``, ``-W default`` and a per-test timeout;
4. write a table per file and per test (passed / failed / error / skipped and the first line of
   the failure) with the date, the flowgraph commit and the totals.

    python benchmarks/gunpowder_tests.py --source /path/to/gunpowder-checkout
    python benchmarks/gunpowder_tests.py --source ... --no-gunpowder        # flowgraph only
    python benchmarks/gunpowder_tests.py --source ... --keep DIR            # keep the rewritten files

gunpowder's own ``tests/conftest.py`` is not copied: its only fixture runs every test twice with
the same (spawn) multiprocessing context, which would double every count without testing more.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import os
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

GUNPOWDER_VERSION = "1.4.4"
GIT_URL = "https://github.com/funkelab/gunpowder.git"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "benchmarks" / "gunpowder_tests.txt"
DEFAULT_VENV = Path(tempfile.gettempdir()) / f"flowgraph-gunpowder-{GUNPOWDER_VERSION}-venv"

# gunpowder 1.4.4's tests/cases files for the nodes and engine parts flowgraph has (all exist in 1.4.4);
# helper_sources holds the ArraySource/GraphSource helpers the others import and has no tests of its own
CASES = (
    "array_source",
    "batch",
    "batch_filter",
    "crop",
    "elastic_augment",
    "elastic_augment_points",
    "graph",
    "graph_keys",
    "graph_source",
    "hdf5_source",
    "helper_sources",
    "intensity_augment",
    "merge_provider",
    "node_dependencies",
    "normalize",
    "pad",
    "placeholder_requests",
    "precache",
    "profiling",
    "random_location",
    "random_location_graph",
    "random_location_points",
    "random_provider",
    "simple_augment",
    "snapshot",
    "squeeze",
    "unsqueeze",
    "update_with",
)

# where a name imported from gunpowder lives in flowgraph, when that is not the top-level
# ``flowgraph`` package; a module name without a dot that is not flowgraph's means the name is that
# third-party module itself (gunpowder.ext re-exports h5py and zarr): ``from gunpowder.ext import
# h5py`` -> ``import h5py``; gunpowder.ext's own names are in flowgraph.ext
MODULE_OF: dict[str, str] = {
    "ArraySource": "flowgraph.nodes",
    "NoSuchModule": "flowgraph.ext",
    "ZarrFile": "flowgraph.ext",
    "h5py": "h5py",
    "zarr": "zarr",
}
# import sources that are rewritten: gunpowder and its submodules (a user changes those imports only;
# ``from funlib.geometry import Roi`` stays, and flowgraph's specs take funlib's Roi)
REWRITTEN = ("gunpowder",)
TOP = "flowgraph"


def _rewritten(module: str | None) -> bool:
    return module is not None and any(module == m or module.startswith(m + ".") for m in REWRITTEN)


def _module_target(module: str) -> str:
    """The flowgraph module for a gunpowder module: gunpowder.nodes -> flowgraph.nodes."""
    return TOP + module.removeprefix("gunpowder")


def module_of(name: str) -> str:
    """The flowgraph module (or third-party module) that ``from gunpowder... import name`` becomes."""
    return MODULE_OF.get(name, TOP)


def _alias(a: ast.alias) -> str:
    return a.name if a.asname is None else f"{a.name} as {a.asname}"


def rewrite_imports(source: str) -> str:
    """``source`` with its gunpowder import statements rewritten for flowgraph.

    Only import statements change (found with ``ast``, so parenthesised multi-line imports and
    imports inside functions are handled); every other line is kept byte for byte.
    """
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, str]] = []  # (first line index, last line index + 1, replacement)
    for node in ast.walk(tree):
        new: list[str] | None = None
        if isinstance(node, ast.Import) and any(_rewritten(a.name) for a in node.names):
            new = [f"import {_alias(a)}" for a in node.names if not _rewritten(a.name)]
            for a in (a for a in node.names if _rewritten(a.name)):
                target = _module_target(a.name)
                if a.asname is not None:  # import gunpowder as gp, import gunpowder.nodes as gn
                    new.append(f"import {target} as {a.asname}")
                else:  # import gunpowder[.nodes] binds the name gunpowder (with .nodes loaded): bind it to flowgraph
                    if target != TOP:
                        new.append(f"import {target}")
                    new.append(f"import {TOP} as {a.name.split('.')[0]}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _rewritten(node.module):
            groups: dict[str, list[str]] = {}
            plain: list[str] = []
            for a in node.names:
                target = module_of(a.name)
                if "." not in target and target != TOP:  # a third-party module re-exported by gunpowder.ext
                    plain.append(f"import {target}" + ("" if a.asname in (None, target) else f" as {a.asname}"))
                else:
                    groups.setdefault(target, []).append(_alias(a))
            new = [f"from {m} import {', '.join(names)}" for m, names in groups.items()] + plain
        if new is not None:
            first, last = node.lineno - 1, node.end_lineno or node.lineno
            prefix = lines[first][: node.col_offset]  # indentation, or code before the statement on its line
            tail = lines[last - 1][node.end_col_offset :] if node.end_col_offset is not None else "\n"
            sep = "\n" + prefix if not prefix.strip() else "; "
            edits.append((first, last, prefix + sep.join(new) + tail))
    for first, last, text in sorted(edits, reverse=True):
        lines[first:last] = [text]
    return "".join(lines)


# -- getting gunpowder's tests -------------------------------------------------------------------------------


def _sdist_cases(work: Path) -> dict[str, str] | None:
    """The case files from gunpowder's sdist, or None when the sdist has no tests/cases (1.4.4's has not)."""
    d = work / "sdist"
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        f"gunpowder=={GUNPOWDER_VERSION}",
    ]
    subprocess.run([*cmd, "-d", str(d)], check=True, capture_output=True)
    (archive,) = d.glob("gunpowder-*.tar.gz")
    with tarfile.open(archive) as tar:
        members = {Path(m.name).relative_to(Path(m.name).parts[0]).as_posix(): m for m in tar.getmembers()}
        found = {}
        for name in CASES:
            m = members.get(f"tests/cases/{name}.py")
            f = tar.extractfile(m) if m is not None else None
            if f is not None:
                found[name] = f.read().decode()
    return found or None


def _source_cases(source: Path) -> dict[str, str]:
    """The case files from a gunpowder git checkout (at tag v1.4.4) or a directory holding tests/cases."""
    is_git = subprocess.run(["git", "-C", str(source), "rev-parse", "--git-dir"], capture_output=True).returncode == 0
    tag = f"v{GUNPOWDER_VERSION}"
    found = {}
    for name in CASES:
        if is_git:
            r = subprocess.run(
                ["git", "-C", str(source), "show", f"{tag}:tests/cases/{name}.py"], capture_output=True, text=True
            )
            if r.returncode == 0:
                found[name] = r.stdout
        elif (source / "tests" / "cases" / f"{name}.py").exists():
            found[name] = (source / "tests" / "cases" / f"{name}.py").read_text()
    if not found:
        raise SystemExit(f"{source} holds none of gunpowder's tests/cases files (at tag {tag} for a git checkout)")
    return found


def get_cases(source: Path | None, work: Path) -> tuple[dict[str, str], str]:
    if source is not None:
        return _source_cases(source), f"{source} (tag v{GUNPOWDER_VERSION})"
    try:
        cases = _sdist_cases(work)
    except (subprocess.CalledProcessError, ValueError) as e:
        print(f"could not download gunpowder {GUNPOWDER_VERSION}'s sdist ({e}); trying git", file=sys.stderr)
        cases = None
    if cases:
        return cases, f"gunpowder-{GUNPOWDER_VERSION}.tar.gz from PyPI"
    print(f"gunpowder {GUNPOWDER_VERSION}'s sdist holds no tests/: cloning {GIT_URL}", file=sys.stderr)
    clone = work / "gunpowder"
    r = subprocess.run(
        ["git", "clone", "--quiet", "--depth", "1", "--branch", f"v{GUNPOWDER_VERSION}", GIT_URL, str(clone)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise SystemExit(
            f"the sdist has no tests and cloning {GIT_URL} failed: pass --source DIR (a gunpowder checkout)"
        )
    return _source_cases(clone), f"{GIT_URL} (tag v{GUNPOWDER_VERSION})"


# -- running them --------------------------------------------------------------------------------------------

# a per-test timeout without a plugin (pytest-timeout is not in either environment): SIGALRM in the main thread
CONFTEST = '''"""Per-test timeout for the extracted gunpowder tests (written by benchmarks/gunpowder_tests.py)."""
import os
import signal

import pytest

TIMEOUT = int(os.environ.get("GUNPOWDER_TESTS_TIMEOUT", "120"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    def expired(signum, frame):
        raise TimeoutError(f"the test ran longer than {TIMEOUT} s (timeout of benchmarks/gunpowder_tests.py)")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TIMEOUT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # junit records an xfail with its reason only, and an xpass as a plain pass: keep the error and the xpass
    report = (yield).get_result()
    if getattr(report, "wasxfail", None) is None or call.when != "call":
        return
    if report.skipped and call.excinfo is not None:
        lines = str(call.excinfo.value).strip().splitlines() or [""]
        report.wasxfail = f"{report.wasxfail or 'xfail'}: {call.excinfo.typename}: {lines[0]}"
    elif report.passed:
        report.user_properties.append(("xpassed", report.wasxfail or "xfail"))
'''


def write_tree(root: Path, cases: dict[str, str], rewrite: bool) -> list[Path]:
    """tests/cases/<name>.py under ``root`` (a package, for the relative ``from .helper_sources``)."""
    cases_dir = root / "tests" / "cases"
    cases_dir.mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "tests" / "__init__.py").write_text("")
    (cases_dir / "__init__.py").write_text("")
    (root / "tests" / "conftest.py").write_text(CONFTEST)
    paths = []
    for name, text in sorted(cases.items()):
        path = cases_dir / f"{name}.py"
        path.write_text(rewrite_imports(text) if rewrite else text)
        paths.append(path)
    return paths


@dataclass
class Outcome:
    status: str  # passed, failed, error, skipped, xfailed (an xpass counts as passed, with a message)
    message: str = ""


@dataclass
class Run:
    label: str
    python: str
    results: dict[str, dict[str, Outcome]] = field(default_factory=dict)  # file -> test -> outcome
    collection_errors: dict[str, str] = field(default_factory=dict)  # file -> first line
    seconds: float = 0.0

    def counts(self, universe: dict[str, list[str]]) -> dict[str, int]:
        c = {"passed": 0, "failed": 0, "error": 0, "skipped": 0, "xfailed": 0}
        for f, tests in universe.items():
            for t in tests:
                c[self.outcome(f, t).status] += 1
        return c

    def outcome(self, file: str, test: str) -> Outcome:
        got = self.results.get(file, {}).get(test)
        if got is not None:
            return got
        if file in self.collection_errors:
            return Outcome("error", "collection: " + self.collection_errors[file])
        return Outcome("error", "not run (the pytest run ended before it, or it was not collected)")


def _first_line(text: str | None) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return " ".join(line.split())[:200]
    return ""


def _collection_message(element: ET.Element) -> str:
    """The most telling line of a collection error: the exception line (E ...), else the first."""
    text = (element.text or "") + "\n" + (element.get("message") or "")
    for line in text.splitlines():
        if line.startswith("E "):
            return " ".join(line[2:].split())[:200]
    return _first_line(element.get("message") or element.text)


def run_pytest(label: str, python: str, root: Path, paths: list[Path], timeout: int, env_extra: dict[str, str]) -> Run:
    xml = root / "results.xml"
    cmd = [python, "-m", "pytest", "-p", "no:cacheprovider", "-W", "default", "-q", "-rN", "--tb=short"]
    cmd += ["--continue-on-collection-errors"]
    cmd += ["-c", str(root / "pytest.ini"), "--rootdir", str(root), f"--junitxml={xml}", "-o", "junit_family=xunit1"]
    cmd += [str(p) for p in paths]
    env = {**os.environ, "GUNPOWDER_TESTS_TIMEOUT": str(timeout), **env_extra}
    env.pop("PYTHONPATH", None)
    start = datetime.datetime.now()
    try:
        subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout * 60)
    except subprocess.TimeoutExpired:
        print(f"{label}: the pytest run exceeded {timeout * 60} s and was stopped", file=sys.stderr)
    run = Run(label, python, seconds=(datetime.datetime.now() - start).total_seconds())
    if not xml.exists():
        raise SystemExit(f"{label}: pytest wrote no report ({' '.join(cmd)})")
    for case in ET.parse(xml).getroot().iter("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "")
        if not classname:  # a collection error: the testcase is named after the module, tests.cases.<file>
            file, test = name.rpartition(".")[2], None
        else:  # tests.cases.<file>[.<Class>] and the test's name (with its parameters)
            parts = classname.split(".")
            file, test = parts[2] if len(parts) > 2 else classname, ".".join(parts[3:] + [name])
        children = {c.tag: c for c in case}
        if test is None:
            err = children.get("error", children.get("failure"))  # (an Element without children is falsy)
            if err is not None:
                run.collection_errors[file] = _collection_message(err)
            continue
        if "failure" in children:
            out = Outcome("failed", _failure_message(children["failure"]))
        elif "error" in children:
            out = Outcome("error", _failure_message(children["error"]))
        elif "skipped" in children:
            xfail = children["skipped"].get("type") == "pytest.xfail"
            out = Outcome("xfailed" if xfail else "skipped", _first_line(children["skipped"].get("message")))
        else:
            props = {p.get("name"): p.get("value") for p in case.iter("property")}
            out = Outcome("passed", f"xpassed (marked xfail: {props['xpassed']})" if "xpassed" in props else "")
        run.results.setdefault(file, {})[test] = out
    return run


def _failure_message(element: ET.Element) -> str:
    """The exception line of a failure: pytest's ``E   Type: message`` line closest to the raise."""
    text = element.text or ""
    e_lines = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    typed = [
        line for line in e_lines if ":" in line.split(" ")[0] or line.split(" ")[0].endswith(("Error", "Exception"))
    ]
    if typed:
        return " ".join(typed[-1].split())[:200]
    return _first_line(element.get("message")) or (" ".join(e_lines[0].split())[:200] if e_lines else "")


def ensure_gunpowder_venv(venv: Path) -> str:
    """A venv with gunpowder 1.4.4 and pytest (created on first use, like benchmark.py's gunpowder venv)."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    probe = f"import importlib.metadata as m, gunpowder, pytest; assert m.version('gunpowder') == {GUNPOWDER_VERSION!r}"
    if subprocess.run([str(python), "-c", probe], capture_output=True).returncode != 0:
        print(f"installing gunpowder {GUNPOWDER_VERSION} and pytest into {venv}", file=sys.stderr)
        pip = [str(python), "-m", "pip", "install", "--quiet", f"gunpowder=={GUNPOWDER_VERSION}", "pytest"]
        subprocess.run(pip, check=True)
    return str(python)


# -- the report ----------------------------------------------------------------------------------------------


def universe_of(runs: list[Run], cases: dict[str, str]) -> dict[str, list[str]]:
    """Every test of every file: as collected by any run, plus ``test*`` functions of files no run collected."""
    out: dict[str, list[str]] = {}
    for name in sorted(cases):
        tests: list[str] = []
        for run in runs:
            tests += [t for t in run.results.get(name, {}) if t not in tests]
        if not tests:
            tests = _declared_tests(cases[name])
        if tests:
            out[name] = tests
    return out


def _declared_tests(source: str) -> list[str]:
    tree = ast.parse(source)
    tests = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test")]
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name.startswith("Test")):
        tests += [
            f"{cls.name}.{n.name}" for n in cls.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test")
        ]
    return tests


def _git(*args: str) -> str:
    r = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
    return r.stdout.strip()


def report(runs: list[Run], cases: dict[str, str], origin: str, timeout: int) -> str:
    universe = universe_of(runs, cases)
    total = sum(len(t) for t in universe.values())
    dirty = _git("status", "--porcelain", "--untracked-files=no", "--", "flowgraph", "nodes")
    head = _git("log", "-1", "--format=%h %s")[:100]
    lines = [
        f"gunpowder {GUNPOWDER_VERSION}'s tests/cases for flowgraph's nodes, imports rewritten to flowgraph",
        f"date: {datetime.datetime.now():%Y-%m-%d %H:%M}",
        f"flowgraph commit: {head}" + ("  (+ uncommitted changes in flowgraph/ or nodes/)" if dirty else ""),
        f"tests from: {origin}",
        f"run: pytest -p no:cacheprovider -W default, {timeout} s per test; gunpowder's conftest.py not used",
        "",
        "totals:",
    ]
    for run in runs:
        c = run.counts(universe)
        lines.append(
            f"  {run.label:<10} {c['passed']:>3} / {total} passed, {c['failed']} failed, {c['error']} errors, "
            f"{c['xfailed']} xfailed, {c['skipped']} skipped  ({run.seconds:.0f} s, {run.python})"
        )
    lines += ["", "per file (passed / tests):"]
    width = max(len(f) for f in universe)
    lines.append(f"  {'file':<{width}}  " + "  ".join(f"{r.label:>10}" for r in runs))
    for f, tests in universe.items():
        cols = [f"{sum(r.outcome(f, t).status == 'passed' for t in tests)} / {len(tests)}" for r in runs]
        lines.append(f"  {f:<{width}}  " + "  ".join(f"{c:>10}" for c in cols))
    lines += ["", "per test (status per run; the first line of the failure, flowgraph's first):"]
    for f, tests in universe.items():
        for t in tests:
            outcomes = [r.outcome(f, t) for r in runs]
            status = " ".join(f"{o.status:<7}" for o in outcomes)
            lines.append(f"  {f}::{t}  [{status.strip()}]")
            for r, o in zip(runs, outcomes):
                if o.message:
                    lines.append(f"      {r.label}: {o.message}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--source", type=Path, help="a gunpowder git checkout (read at tag v1.4.4) or a directory with tests/cases"
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the results file (default: %(default)s)")
    ap.add_argument("--timeout", type=int, default=120, help="seconds per test (default: %(default)s)")
    ap.add_argument("--python", default=sys.executable, help="the Python with flowgraph (default: this one)")
    ap.add_argument(
        "--gunpowder-venv", type=Path, default=DEFAULT_VENV, help="venv for gunpowder 1.4.4 (default: %(default)s)"
    )
    ap.add_argument("--no-gunpowder", action="store_true", help="run only the rewritten tests with flowgraph")
    ap.add_argument("--only", help="comma-separated case files (default: all of CASES)")
    ap.add_argument(
        "--keep", type=Path, help="write the extracted trees here (a new directory) instead of a temporary one"
    )
    args = ap.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    if only is not None and not only <= set(CASES):
        ap.error(f"unknown case files: {', '.join(sorted(only - set(CASES)))}")

    with tempfile.TemporaryDirectory(prefix="flowgraph-gunpowder-tests-") as tmp:
        work = args.keep.resolve() if args.keep else Path(tmp)
        if str(work).startswith(str(REPO) + os.sep):
            ap.error("--keep must lie outside the repository: gunpowder's tests are not committed here")
        work.mkdir(parents=True, exist_ok=True)
        cases, origin = get_cases(args.source, work)
        missing = [c for c in CASES if c not in cases]
        if missing:
            print(f"not in gunpowder {GUNPOWDER_VERSION}: {', '.join(missing)}", file=sys.stderr)
        selected = {k: v for k, v in cases.items() if only is None or k in only or k == "helper_sources"}
        runs = []
        fg_root = work / "flowgraph"
        fg_paths = write_tree(fg_root, selected, rewrite=True)
        runs.append(run_pytest("flowgraph", args.python, fg_root, fg_paths, args.timeout, {}))
        if not args.no_gunpowder:
            gp_python = ensure_gunpowder_venv(args.gunpowder_venv)
            gp_root = work / "gunpowder"
            gp_paths = write_tree(gp_root, selected, rewrite=False)
            runs.append(run_pytest("gunpowder", gp_python, gp_root, gp_paths, args.timeout, {}))
        text = report(runs, selected, origin, args.timeout)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
