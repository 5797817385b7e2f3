"""`pip install .` must give a graphrec that finds its cypher/ files and loaders outside the checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile


def test_wheel_carries_cypher_and_loaders_and_works_outside_the_checkout(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), "."], check=True, cwd=str(__import__("pathlib").Path(__file__).parents[2]))
    wheel = next((tmp_path / "dist").glob("graphrec-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "graphrec/_cypher/schema.cypher" in names and "graphrec/_cypher/ingest.cypher" in names
    assert "loaders/records.py" in names and "loaders/lightgcn.py" in names

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True)
    probe = ("import graphrec.db.cypher as c, loaders; "
             "p = c.cypher_dir(); assert 'site' in str(p), p; "
             "print(len(c.names()), sorted(loaders.LOADERS))")
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {probe}"],
                         cwd=str(tmp_path), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "lightgcn" in out.stdout
