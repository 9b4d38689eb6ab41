"""Supply chain: every package is locked to one version and its hashes, and installed that way.

requirements/*.in hold the direct pins; `make lock` compiles requirements/*.txt with every
transitive package and the hashes of its files; the README's, the Makefile's and CI's installs
pass `--require-hashes`, so pip refuses a file whose hash differs or a package nobody locked.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements"
LOCKS = ("base", "dev", "prod")


def _locked(name: str) -> dict[str, tuple[str, list[str]]]:
    """{package: (version, hashes)} of one compiled file, continuation lines joined."""
    text = (REQUIREMENTS / f"{name}.txt").read_text().replace("\\\n", " ")
    packages = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        assert not line.startswith("-"), f"{name}.txt: an option line would bypass the lock: {line}"
        spec, *options = line.split(" --hash=")
        requirement = Requirement(spec.strip())
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{name}.txt: {requirement.name} is not pinned to one version"
        packages[canonicalize_name(requirement.name)] = (specifier.version, [o.strip() for o in options])
    return packages


def _direct(name: str) -> dict[str, str]:
    """{package: version} of the direct pins in an .in file and the files it includes."""
    pins = {}
    for line in (REQUIREMENTS / f"{name}.in").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins.update(_direct(Path(line[3:].strip()).stem))
        elif line:
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


@pytest.mark.parametrize("name", LOCKS)
def test_every_locked_package_has_one_version_and_sha256_hashes(name):
    packages = _locked(name)
    assert len(packages) > len(_direct(name)), "the lock holds the transitive packages too"
    for package, (_version, hashes) in packages.items():
        assert hashes, f"{name}.txt: {package} has no hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), (package, hashes)


@pytest.mark.parametrize("name", LOCKS)
def test_the_lock_is_compiled_from_the_current_direct_pins(name):
    locked = _locked(name)
    for package, version in _direct(name).items():
        assert package in locked, f"{package} is pinned in {name}.in but not in {name}.txt: run make lock"
        assert locked[package][0] == version, (
            f"{package}: {name}.in pins {version}, {name}.txt locks {locked[package][0]}: run make lock"
        )


def test_what_the_suite_runs_on_is_what_the_lock_says():
    """Every package installed in this environment is locked, at the locked version."""
    locked = _locked("dev")
    unlocked, different = [], []
    for dist in metadata.distributions():
        package = canonicalize_name(dist.metadata["Name"])
        if package in {"pip", "setuptools", "wheel"}:  # the installer itself
            continue
        if package not in locked:
            unlocked.append(package)
        elif locked[package][0] != dist.version:
            different.append(f"{package} {dist.version} (locked {locked[package][0]})")
    assert not unlocked, f"installed but not locked: {sorted(unlocked)}"
    assert not different, f"installed at another version than locked: {different}"


def test_every_documented_install_requires_the_hashes():
    installs = []
    for path in ("Makefile", "README.md", ".ci/run"):
        for line in (ROOT / path).read_text().splitlines():
            if re.search(r"pip install .*-r requirements/", line):
                installs.append((path, line.strip()))
    assert any(path == "Makefile" for path, _ in installs)
    assert any(path == "README.md" for path, _ in installs)
    for path, line in installs:
        assert "--require-hashes" in line, f"{path}: {line}"
