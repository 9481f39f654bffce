"""Workspace checks that need a shell: each package alone, in its own environment.

``--install``: for every member under packages/, ``uv sync --locked --package <name>`` into a
throw-away environment (the workspace .venv is not touched) and import every module of that
package there. A package that imports a sibling it does not declare fails with
ModuleNotFoundError, which uv alone cannot prevent (astral-sh/uv#8949).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

IMPORT_ALL = """
import importlib, pkgutil, re, sys
name = sys.argv[1]
package = importlib.import_module(name)
failed, extras = [], []
for module in pkgutil.walk_packages(package.__path__, name + "."):
    try:
        importlib.import_module(module.name)
    except Exception as exc:
        # a module that needs an optional extra may refuse to import, but only with a clear
        # error that names the extra to install, e.g. "pip install 'qrouting[torch]'"
        if re.search(re.escape(name) + r"\\[[a-z0-9_-]+\\]", str(exc)):
            extras.append(module.name)
        else:
            failed.append(f"{module.name}: {type(exc).__name__}: {exc}")
if failed:
    print("\\n".join(failed))
    sys.exit(1)
note = f" ({', '.join(extras)} need an extra and say which)" if extras else ""
print(f"{name}: every module imports with only its declared dependencies{note}")
"""


def packages() -> list[str]:
    return sorted(p.name for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").is_file())


def check_alone(name: str) -> bool:
    with tempfile.TemporaryDirectory(prefix=f"qf-{name}-") as env_dir:
        env = {**os.environ, "UV_PROJECT_ENVIRONMENT": env_dir}
        # extras stay out on purpose: a module that needs an extra must import it lazily
        sync = ["uv", "sync", "--locked", "--package", name, "--no-dev", "--quiet"]
        subprocess.run(sync, cwd=ROOT, env=env, check=True)
        python = Path(env_dir) / "bin" / "python"
        result = subprocess.run(
            [str(python), "-c", IMPORT_ALL, name], cwd=ROOT, env=env, capture_output=True, text=True
        )
        print(result.stdout.strip() or result.stderr.strip()[-2000:])
        return result.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--install", action="store_true", help="install and import each package")
    parser.add_argument("names", nargs="*", help="packages to check (default: all)")
    args = parser.parse_args()
    if not args.install:
        parser.error("nothing to do; pass --install")
    failed = [name for name in (args.names or packages()) if not check_alone(name)]
    if failed:
        print(f"packages that do not work alone: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
