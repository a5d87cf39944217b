"""The repository stands alone: its tests read nothing outside it.

A person who clones the repository has nothing beside it. This copies the repository into
an empty directory, collects every test there, and runs the tests that read fixture files
or start the mock upstream, with an audit hook that records every file opened outside the
copy's own tree (site-packages and the temporary directory apart).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IGNORED = shutil.ignore_patterns(".git", "__pycache__", "*.pyc", ".mypy_cache", ".ruff_cache", ".pytest_cache",
                                 ".hypothesis", "artifacts", "*.egg-info", "build", "dist", ".venv", "node_modules")
# Test modules that read files from tests/fixtures or start tests/mock_upstream.py.
READERS = re.compile(r"fixture_path|FIXTURES|mock_upstream")

# Loaded with -p before collection: every open() outside the copy, the interpreter's own trees and
# the temporary directory is written down, and listed by the session's end.
AUDIT_PLUGIN = '''
import os, sys
_ROOT = os.environ["STANDALONE_ROOT"]
_ALLOWED = tuple({_ROOT, sys.prefix, sys.base_prefix, sys.exec_prefix, os.environ["STANDALONE_TMP"], "/dev/",
                  "/proc/", "/sys/", "/etc/", "/usr/", "/lib", "/opt/", "/var/", "/run/"})
_SEEN = []

def _hook(event, args):
    if event != "open" or not args or not isinstance(args[0], (str, bytes, os.PathLike)):
        return
    path = os.fsdecode(args[0])
    if not path.startswith("/"):
        path = os.path.join(os.getcwd(), path)
    path = os.path.normpath(path)
    if not path.startswith(_ALLOWED):
        _SEEN.append(path)

sys.addaudithook(_hook)

def pytest_sessionfinish(session, exitstatus):
    outside = sorted(set(_SEEN))
    with open(os.environ["STANDALONE_REPORT"], "w") as out:
        out.write("\\n".join(outside))
'''


def _copy(dest: Path) -> Path:
    repo = dest / "spendtag"
    shutil.copytree(ROOT, repo, ignore=IGNORED, symlinks=True)
    return repo


def _run(repo: Path, tmp: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    plugin_dir = tmp / "plugin"
    plugin_dir.mkdir(exist_ok=True)
    (plugin_dir / "standalone_audit.py").write_text(AUDIT_PLUGIN)
    report = tmp / "outside.txt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo / "src"), str(plugin_dir)]),
           "STANDALONE_ROOT": str(repo), "STANDALONE_TMP": str(Path(os.environ.get("TMPDIR", "/tmp")).resolve()),
           "STANDALONE_REPORT": str(report), "HOME": str(tmp / "home"), "SPENDTAG_DB": str(tmp / "home" / "l.db")}
    env.pop("SPENDTAG_REQUIRE_PG", None)
    env.pop("SPENDTAG_REQUIRE_BROWSER", None)
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "standalone_audit", "-p", "no:cacheprovider",
                           "-q", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    outside = [p for p in report.read_text().splitlines() if p] if report.exists() else ["(no report written)"]
    return done, outside


def test_no_test_source_points_outside_the_repository() -> None:
    leaving = re.compile(r"\.\./shared|parents\[[2-9]\]|\"shared\"\s*/")
    found = [f"{p.name}:{n}" for p in sorted((ROOT / "tests").rglob("*.py"))
             for n, line in enumerate(p.read_text().splitlines(), 1) if leaving.search(line)]
    assert found == []


def test_every_test_collects_in_a_copy_with_nothing_beside_it(tmp_path: Path) -> None:
    repo = _copy(tmp_path / "alone")
    assert not (repo.parent / "shared").exists()
    done, outside = _run(repo, tmp_path, "--collect-only")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " error" not in done.stdout.splitlines()[-1]
    assert outside == []


def test_fixture_readers_pass_in_the_copy_reading_nothing_outside_it(tmp_path: Path) -> None:
    repo = _copy(tmp_path / "alone")
    readers = sorted(p.name for p in (repo / "tests").glob("test_*.py")
                     if p.name != Path(__file__).name and READERS.search(p.read_text()))
    assert "test_capture_fixtures.py" in readers and "test_proxy_durability.py" in readers
    done, outside = _run(repo, tmp_path, "-x", "-m", "not slow", *(f"tests/{name}" for name in readers))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert outside == []
