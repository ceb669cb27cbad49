"""The adapter template installs as a package of its own and passes its own tests.

The template is copied to a temporary folder, as an author copies it, and
installed with pip into a fresh virtual environment next to gamegate, both
editable and without their dependencies. The dependencies come from the
environment running this suite: a `.pth` file in the new environment names
this environment's site-packages, so pip installs nothing but the two
packages, and the only thing it may fetch is the build backend of its
isolated builds (setuptools, as for `pip install -e .`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "examples" / "adapter-template"
DISTRIBUTION = "gamegate-adapter-example"
LEFTOVERS = (".venv", "build", "*.egg-info", "__pycache__", ".*_cache")

# The listing's line for the adapter: its name, then its version.
ADAPTER_LINE = re.compile(r"^\W*example\W.*\b0\.1\.0\b", re.MULTILINE)
LOG_EVENTS = ("plugins.loaded", "adapter.registered")
PATHS_SCRIPT = "import json, sysconfig; print(json.dumps(sysconfig.get_paths()))"


@dataclass(frozen=True, slots=True)
class Installed:
    """A fresh virtual environment holding gamegate and a copy of the template."""

    python: Path
    scripts: Path
    template: Path


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Gamegate and a copy of the template, installed in a new environment."""
    root = tmp_path_factory.mktemp("adapter-template")
    template = root / DISTRIBUTION
    shutil.copytree(TEMPLATE, template, ignore=shutil.ignore_patterns(*LEFTOVERS))

    # Without pip of its own: this environment's pip is borrowed with the rest.
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=root)
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    paths = json.loads(_run([python, "-c", PATHS_SCRIPT], cwd=root).stdout)
    _borrow_this_environment(Path(paths["purelib"]))

    pip = [python, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check"]
    _run([*pip, "-e", REPO, "-e", template], cwd=root)

    return Installed(python=python, scripts=Path(paths["scripts"]), template=template)


def test_gamegate_adapters_lists_the_installed_template(installed: Installed) -> None:
    """`gamegate adapters` lists the template's adapter, its version and its file."""
    done = _run([installed.scripts / "gamegate", "adapters"], cwd=installed.template)

    listing = "\n".join(
        line
        for line in done.stdout.splitlines()
        if not any(event in line for event in LOG_EVENTS)
    )
    origin = installed.template / "src" / "gamegate_example_adapter" / "adapter.py"
    assert ADAPTER_LINE.search(listing), listing
    assert DISTRIBUTION in listing, listing
    assert str(origin) in listing, listing


def test_template_suite_passes_where_it_is_installed(installed: Installed) -> None:
    """The template's own tests, the conformance kit's scenarios among them, pass."""
    command = [installed.python, "-m", "pytest", "-v", "-p", "no:cacheprovider"]

    done = _run(command, cwd=installed.template)

    assert "test_conformance.py::Conformance::" in done.stdout, done.stdout
    assert "test_adapter.py::" in done.stdout, done.stdout
    assert re.search(r"\b\d+ passed\b", done.stdout.splitlines()[-1]), done.stdout


def _borrow_this_environment(site_packages: Path) -> None:
    # Paths named in a .pth file go on sys.path after the environment's own
    # site-packages, so what pip installs there comes first.
    borrowed = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    lines = "".join(f"{path}\n" for path in borrowed)
    (site_packages / "gamegate-borrowed.pth").write_text(lines)


def _run(command: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    # A wide terminal keeps the listing's cells whole; the parent pytest's own
    # settings must not reach the inner run.
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")
    }
    environment.update(COLUMNS="1000", PIP_NO_INPUT="1", PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, command))} exited {done.returncode}\n"
            f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}",
            pytrace=False,
        )

    return done
