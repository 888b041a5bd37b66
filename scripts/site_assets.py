"""The website's browser assets (MathJax, the ipywidgets embed script): fetched, checked, copied.

``site/assets.json`` pins each npm package (name, version, the integrity npm published for its
tarball) and lists the files the site uses. ``npm pack`` fetches a tarball from the npm registry
once into the cache folder (``.cache/site-npm/``, git-ignored); every build checks the cached
tarball against the pinned integrity and copies the listed files to ``<dest>/npm/<package dest>/``,
which the Sphinx build serves as ``_static/npm/…``. Nothing is committed but the manifest.

    python scripts/site_assets.py [--dest DIR]   # fetch (if needed) and copy; prints what it did
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "site" / "assets.json"
CACHE = ROOT / ".cache" / "site-npm"


class AssetError(RuntimeError):
    pass


def load_manifest(path: Path = MANIFEST) -> list[dict]:
    return json.loads(path.read_text())["packages"]


def integrity_of(path: Path) -> str:
    """The tarball's Subresource Integrity string, as npm records it (sha512, base64)."""
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def tarball_name(package: dict) -> str:
    """npm pack's file name: ``@scope/name`` 1.0 -> ``scope-name-1.0.tgz``."""
    return f"{package['name'].lstrip('@').replace('/', '-')}-{package['version']}.tgz"


def fetch(package: dict, cache: Path = CACHE) -> Path:
    """The package's tarball in ``cache``, fetched with ``npm pack`` unless already there and intact."""
    cached = cache / tarball_name(package)
    if cached.exists() and integrity_of(cached) == package["integrity"]:
        return cached
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError(f"{package['name']}@{package['version']} is not in {cache} and npm is not installed "
                         "(install Node.js with npm, e.g. apt-get install npm)")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        spec = f"{package['name']}@{package['version']}"
        done = subprocess.run([npm, "pack", spec, "--json", "--pack-destination", tmp], cwd=tmp,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise AssetError(f"npm pack {spec} failed:\n{done.stderr[-2000:]}")
        fetched = Path(tmp) / tarball_name(package)
        if not fetched.exists():
            raise AssetError(f"npm pack {spec} wrote no {fetched.name}: {sorted(p.name for p in Path(tmp).iterdir())}")
        got = integrity_of(fetched)
        if got != package["integrity"]:
            raise AssetError(f"{spec}: the registry's tarball has integrity {got}, "
                             f"site/assets.json pins {package['integrity']}")
        fetched.replace(cached)
    return cached


def extract(package: dict, tarball: Path, dest: Path) -> list[Path]:
    """Copy the manifest's files of ``package`` from ``tarball`` to ``dest/npm/<package dest>/``."""
    target = dest / "npm" / package["dest"]
    if target.exists():
        shutil.rmtree(target)
    strip, patterns = package.get("strip", ""), package["files"]
    matched = dict.fromkeys(patterns, 0)
    written = []
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.startswith("package/"):
                continue
            path = PurePosixPath(member.name.removeprefix("package/"))
            hits = [p for p in patterns if path.match(p) and len(path.parts) == len(PurePosixPath(p).parts)]
            if not hits:
                continue
            for p in hits:
                matched[p] += 1
            out = target / str(path).removeprefix(strip)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(tar.extractfile(member).read())
            written.append(out)
    missing = [p for p, n in matched.items() if n == 0]
    if missing:
        raise AssetError(f"{package['name']}@{package['version']}: no file matches {missing} (site/assets.json)")
    return written


def prepare(dest: Path, cache: Path = CACHE, manifest: Path = MANIFEST) -> dict[str, list[Path]]:
    """Fetch (when not cached) and copy every package of the manifest; the files written, by package."""
    return {p["name"]: extract(p, fetch(p, cache), dest) for p in load_manifest(manifest)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=ROOT / "build" / "site" / "assets")
    args = parser.parse_args()
    for name, files in prepare(args.dest).items():
        size = sum(f.stat().st_size for f in files)
        print(f"{name}: {len(files)} files, {size / 1e6:.1f} MB -> {args.dest / 'npm'}")


if __name__ == "__main__":
    main()
