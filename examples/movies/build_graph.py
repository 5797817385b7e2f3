"""Build Neo4j's recommendations-shaped movie graph from MovieLens 100K, with plain Cypher and none of graphrec's
schema: (:User {userId})-[:RATED {rating, timestamp}]->(:Movie {movieId, title, year})-[:IN_GENRE]->(:Genre {name}).

This is the graph a Neo4j user already has (Neo4j's own "recommendations" example has this shape). graphrec then
reads it through the mapping in graphrec.toml beside this file:

    python examples/movies/build_graph.py --home ~/graphrec-movies ../shared/data/ml-100k
    graphrec --home ~/graphrec-movies --config examples/movies/graphrec.toml train --epochs 100
    graphrec --home ~/graphrec-movies --config examples/movies/graphrec.toml recommend --user 1 --explain

The graph goes into the graphrec home given (its embedded Neo4j), or to NEO4J_URI when that is set. Running it
again changes nothing (MERGE on the ids).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from graphrec.config import load_settings
from graphrec.db.connect import connect

SCHEMA = [
    "CREATE CONSTRAINT movie_user_id IF NOT EXISTS FOR (u:User) REQUIRE u.userId IS UNIQUE",
    "CREATE CONSTRAINT movie_movie_id IF NOT EXISTS FOR (m:Movie) REQUIRE m.movieId IS UNIQUE",
    "CREATE CONSTRAINT movie_genre_name IF NOT EXISTS FOR (g:Genre) REQUIRE g.name IS UNIQUE",
]
USERS = """UNWIND $rows AS row
MERGE (u:User {userId: row.id})
SET u.age = row.age, u.gender = row.gender, u.occupation = row.occupation"""
MOVIES = """UNWIND $rows AS row
MERGE (m:Movie {movieId: row.id})
SET m.title = row.title, m.year = row.year
WITH m, row
UNWIND row.genres AS genre
MERGE (g:Genre {name: genre})
MERGE (m)-[:IN_GENRE]->(g)"""
RATINGS = """UNWIND $rows AS row
MATCH (u:User {userId: row.user}), (m:Movie {movieId: row.movie})
MERGE (u)-[r:RATED]->(m)
SET r.rating = row.rating, r.timestamp = row.ts"""


def read(folder: Path):
    genres = [line.split("|")[0] for line in (folder / "u.genre").read_text("latin-1").splitlines() if line.strip()]
    users = []
    for line in (folder / "u.user").read_text("latin-1").splitlines():
        uid, age, gender, occupation, _ = line.split("|")
        users.append({"id": uid, "age": int(age), "gender": gender, "occupation": occupation})
    movies = []
    for line in (folder / "u.item").read_text("latin-1").splitlines():
        parts = line.split("|")
        title, date = parts[1], parts[2]
        flags = parts[5:5 + len(genres)]
        movies.append({"id": parts[0], "title": title, "year": int(date[-4:]) if date else None,
                       "genres": [g for g, f in zip(genres, flags) if f == "1" and g != "unknown"]})
    ratings = []
    for line in (folder / "u.data").read_text("latin-1").splitlines():
        user, movie, rating, ts = line.split("\t")
        ratings.append({"user": user, "movie": movie, "rating": int(rating), "ts": int(ts)})
    return users, movies, ratings


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="the ml-100k folder (u.data, u.item, u.user, u.genre)")
    parser.add_argument("--home", help="graphrec home whose embedded Neo4j gets the graph (default: graphrec's)")
    args = parser.parse_args(argv)
    users, movies, ratings = read(args.folder)
    start = time.perf_counter()
    with connect(load_settings(home=args.home)) as graph:
        for text in SCHEMA:
            graph.query(text, write=True)
        for name, text, rows in (("users", USERS, users), ("movies", MOVIES, movies), ("ratings", RATINGS, ratings)):
            for k in range(0, len(rows), 10_000):
                graph.query(text, {"rows": rows[k:k + 10_000]}, write=True, what=f"writing {name}")
            print(f"{name}: {len(rows):,}", file=sys.stderr)
    print(f"built the movie graph in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
