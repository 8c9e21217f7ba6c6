"""The Triton Python-backend stub environment is cached and shared by every checkout that uses the cache:
its path file must name the checkout that starts Triton now, not the one that created the cache (a
fresh clone failed with "No module named 'core'" when the first checkout was gone)."""

from __future__ import annotations

import sys
from pathlib import Path

from core.deploy.triton import stub_environment

ROOT = Path(__file__).resolve().parents[1]


def test_a_cached_stub_environment_points_at_this_checkout(tmp_path: Path) -> None:
    ver = f"{sys.version_info[0]}.{sys.version_info[1]}"
    env = tmp_path / f"pytriton-stub-py{ver}-facegate"
    target = env / "lib" / f"python{ver}" / "site-packages"
    target.mkdir(parents=True)
    (target / "facegate-host.pth").write_text("/a/checkout/that/was/removed\n")
    (env / ".facegate-ready").write_text("cached\n")  # made earlier by another checkout
    assert stub_environment(root=tmp_path, with_facegate=True) == env
    paths = (target / "facegate-host.pth").read_text().splitlines()
    assert paths[0] == str(ROOT) and "/a/checkout/that/was/removed" not in paths
