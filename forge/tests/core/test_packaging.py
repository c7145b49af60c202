"""The distributions as `pip install` would get them: every file the code reads at run time is in the wheel
(an editable install hides a missing one — the SQL of the freeze triggers once was)."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("project, package", [("forge", "anvil_forge"), ("client", "anvil_client")])
def test_the_wheel_holds_every_file_of_the_package(project, package, tmp_path):
    # From a clean copy: setuptools would reuse a stale build/ directory, and must not write into the checkout.
    copy = tmp_path / project
    shutil.copytree(REPO / project, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp_path / "dist"), str(copy)], check=True, capture_output=True)
    [wheel] = (tmp_path / "dist").glob("*.whl")
    packaged = set(zipfile.ZipFile(wheel).namelist())
    source = REPO / project / "src"
    expected = {path.relative_to(source).as_posix() for path in (source / package).rglob("*")
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"}
    assert expected - packaged == set()
