#!/usr/bin/env bash
# Install every dependency at its declared floor (the version after ">=" in pyproject.toml)
# in a throwaway venv, then run the unit tests there: a floor the code does not really
# work with fails here. Transitive dependencies resolve as pip chooses (lowest direct).
#
#   bash scripts/check_floors.sh          runtime and test-group floors, then tests/unit
#   bash scripts/check_floors.sh -k x     extra arguments go to pytest
#
# Run it as it is (not under scripts/isolated.sh): it installs from the package index.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
started=$(date +%s)

"$PY" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --upgrade pip
"$work/venv/bin/python" - "$work/floors.txt" <<'PYEOF'
import re
import subprocess
import sys
import tomllib

from pip._vendor.packaging.version import InvalidVersion, Version

with open("pyproject.toml", "rb") as f:
    project = tomllib.load(f)
specs = [*project["project"]["dependencies"], *project["dependency-groups"]["test"]]
pins = []
for spec in specs:
    requirement, _, marker = spec.partition(";")
    m = re.fullmatch(r"\s*([A-Za-z0-9_.\[\]-]+)\s*>=\s*([0-9][^,\s]*)\s*", requirement)
    if m is None:
        sys.exit(f"no floor to pin in {spec!r}: write it as NAME>=VERSION")
    name, floor = m[1], Version(m[2])
    # The lowest release at or above the floor (the floor itself may not exist).
    out = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", name],
        capture_output=True, text=True, check=True,
    ).stdout
    listed = re.search(r"Available versions: (.*)", out)
    versions = []
    for text in (listed[1].split(", ") if listed else []):
        try:
            versions.append(Version(text))
        except InvalidVersion:
            pass
    found = sorted(v for v in versions if v >= floor and not v.is_prerelease)
    if not found:
        sys.exit(f"{name}: no release at or above {floor}")
    if found[0] != floor:
        print(f"note: {name}>={floor} has no release {floor}; the lowest is {found[0]}")
    pins.append(f"{name}=={found[0]}" + (f"; {marker.strip()}" if marker else ""))
open(sys.argv[1], "w").write("\n".join(pins) + "\n")
PYEOF
echo "floors:"; sed 's/^/  /' "$work/floors.txt"

"$work/venv/bin/python" -m pip install -q -r "$work/floors.txt"
"$work/venv/bin/python" -m pip install -q --no-deps .
echo "installed:"
"$work/venv/bin/python" -m pip freeze | sed 's/^/  /'
status=0
# From the temporary directory: the tests import the installed package, not src/. The
# installs above need the network; the tests run with DNS kept on this machine.
cp -r tests pyproject.toml "$work/"
isolated=$(pwd)/scripts/isolated.sh
(cd "$work" && bash "$isolated" "$work/venv/bin/python" -m pytest -q -p no:cacheprovider \
  tests/unit "$@") || status=$?
echo "check_floors: $(( $(date +%s) - started )) s, pytest status $status"
exit "$status"
