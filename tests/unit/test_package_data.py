"""Every non-Python file the package reads at run time ships in the wheel.

The wheel's data files are the ``[tool.setuptools.package-data]`` globs of ``pyproject.toml``; a
file under ``src/kling_gateway`` that no glob matches is silently left out of the wheel and the
installed gateway breaks (a console asset 404s, the catalogue fails to load). This checks the
globs against the tree, the same way setuptools expands them (relative to the package, ``*`` not
crossing a ``/``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "kling_gateway"
IGNORED_SUFFIXES = {".py", ".pyc"}


def _package_data_globs() -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs: list[str] = pyproject["tool"]["setuptools"]["package-data"]["kling_gateway"]
    return globs


def _data_files() -> list[PurePosixPath]:
    return [
        PurePosixPath(path.relative_to(PACKAGE).as_posix())
        for path in sorted(PACKAGE.rglob("*"))
        if path.is_file() and path.suffix not in IGNORED_SUFFIXES and "__pycache__" not in path.parts
    ]


def _covered(path: PurePosixPath, globs: list[str]) -> bool:
    # PurePosixPath.match is anchored at the right; a full-length pattern of the same depth
    # anchors it at the left too, so "console/static/*" matches exactly one directory level.
    return any(len(PurePosixPath(g).parts) == len(path.parts) and path.match(g) for g in globs)


def test_every_data_file_is_in_a_package_data_glob() -> None:
    globs = _package_data_globs()
    files = _data_files()
    assert any(str(f) == "catalog/models.toml" for f in files), "the tree walk found no data"
    missing = [str(f) for f in files if not _covered(f, globs)]
    assert missing == [], f"not shipped in the wheel (add to package-data): {missing}"


def test_migrations_are_shipped() -> None:
    globs = _package_data_globs()
    versions = sorted((PACKAGE / "store" / "migrations" / "versions").glob("*.py"))
    assert versions, "no migration files found"
    for version in versions:
        relative = PurePosixPath(version.relative_to(PACKAGE).as_posix())
        assert _covered(relative, globs), f"{relative} is not in package-data"


def test_the_glob_check_rejects_a_deeper_file() -> None:
    assert not _covered(PurePosixPath("console/static/sub/x.js"), ["console/static/*"])
    assert _covered(PurePosixPath("console/static/x.js"), ["console/static/*"])
