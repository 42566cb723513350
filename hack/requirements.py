"""Prints the third-party requirements of local projects, from their pyproject.toml files.

Used by the Dockerfiles (so the dependency layer is built before the code is copied) and by
hack/wheelhouse.sh. Requirements naming one of the given local projects are left out.
Usage: python3 requirements.py PROJECT_DIR [PROJECT_DIR ...]
(the operator's project is the repository root: ``python3 hack/requirements.py .``)
"""

import re
import sys
import tomllib
from pathlib import Path


def main(dirs: list[str]) -> None:
    projects = [tomllib.loads((Path(d) / "pyproject.toml").read_text())["project"] for d in dirs]
    local = {p["name"].lower().replace("_", "-") for p in projects}
    seen: list[str] = []
    for project in projects:
        for req in project.get("dependencies", []):
            name = re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].lower().replace("_", "-")
            if name not in local and req not in seen:
                seen.append(req)
    print("\n".join(seen))


if __name__ == "__main__":
    main(sys.argv[1:])
