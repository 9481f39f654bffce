"""The workspace contract: layout, package boundaries, CI and README agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = sorted(p for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").is_file())
MEMBERS = PACKAGES + sorted(
    p for p in (ROOT / "apps").glob("*") if (p / "pyproject.toml").is_file()
)
SIBLINGS = {p.name for p in MEMBERS}


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


REQUIRED_TOP_LEVEL = {
    "packages",
    "apps",
    "tests",
    "tools",
    "docs",
    "pyproject.toml",
    "uv.lock",
    "README.md",
    ".ci",
}


def test_top_level_layout():
    present = {p.name for p in ROOT.iterdir()}
    # dotfiles (.git, .venv, .gitignore, ...) and ignored benchmark output may sit beside them
    extra = {n for n in present - REQUIRED_TOP_LEVEL if not n.startswith(".")} - {
        "bench-results",
        "runs",  # the Flower app's default output (gitignored)
    }
    assert not extra, f"unexpected top-level entries: {sorted(extra)}"
    missing = REQUIRED_TOP_LEVEL - present
    assert not missing, f"missing top-level entries: {sorted(missing)}"


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_packages_depend_on_no_sibling_but_qcore(package):
    meta = tomllib.loads((package / "pyproject.toml").read_text())
    project = meta["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    siblings = {requirement_name(r) for r in requirements} & SIBLINGS
    assert siblings <= {"qcore"}, f"{package.name} depends on siblings {sorted(siblings)}"
    if package.name != "qcore":
        assert "qcore" in {requirement_name(r) for r in project.get("dependencies", [])}


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_package_layout(package):
    assert (package / "README.md").is_file()
    assert (package / "src" / package.name / "__init__.py").is_file()
    assert (package / "tests").is_dir()
    meta = tomllib.loads((package / "pyproject.toml").read_text())
    assert meta["tool"]["ruff"]["extend"] == "../../pyproject.toml"


def test_import_linter_contract_covers_every_package():
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    linter = root["tool"]["importlinter"]
    assert set(linter["root_packages"]) == {p.name for p in PACKAGES}
    layers = linter["contracts"][0]["layers"]
    assert layers[-1] == "qcore"
    features = {p.name for p in PACKAGES} - {"qcore"}
    if features:
        assert {n.strip() for n in layers[0].split("|")} == features


def test_every_member_is_a_workspace_source():
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    sources = root["tool"]["uv"]["sources"]
    for member in MEMBERS:
        name = tomllib.loads((member / "pyproject.toml").read_text())["project"]["name"]
        assert sources.get(name) == {"workspace": True}, name


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    match = re.search(r"<!-- test-command -->\s*```(?:bash|sh)?\n(.+?)\n```", readme, re.S)
    assert match, "README must mark its test command with <!-- test-command -->"
    command = match.group(1).strip()
    assert command in ci.splitlines(), f"{command!r} is not a line of .ci/run"
    assert "uv sync --locked --all-packages --all-extras" in ci
    assert "lint-imports" in ci
