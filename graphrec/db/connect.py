"""Reaching the graph: one :class:`Graph` per process, holding the driver, the database name and the dialect.

Functions take the Graph explicitly; there is no module-level driver. Statements come from ``cypher/`` by name; values
always travel as ``$parameters``.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterable, Sequence

import neo4j
from neo4j import GraphDatabase, RoutingControl
from neo4j.exceptions import AuthError, ClientError, Neo4jError, ServiceUnavailable, SessionExpired

from graphrec.config import Settings
from graphrec.db import cypher
from graphrec.db.dialect import Dialect, detect
from graphrec.db.server import DATABASE, USER, EmbeddedServer
from graphrec.errors import DatabaseError
from graphrec.mapping import DEFAULT, GraphMapping, resolve

_TRANSIENT = (ServiceUnavailable, SessionExpired)
_RETRY_MESSAGE = "Transaction failed and will be retried"


class _RetryCount(logging.Filter):
    """The driver logs every managed transaction it redoes after a transient error (a deadlock between graphrec's
    ingest writers, which :mod:`graphrec.ingest` expects now and then) as a multi-line warning, which Python prints on
    stderr when the application set up no logging. Counted here instead (:func:`retried_transactions`)."""

    count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith(_RETRY_MESSAGE):
            _RetryCount.count += 1
            return False
        return True


logging.getLogger("neo4j.session").addFilter(_RetryCount())


def retried_transactions() -> int:
    """How many transactions the driver has redone after a transient error in this process."""
    return _RetryCount.count


class Graph:
    """A connected graph database: run named statements, write batches, apply the schema."""

    def __init__(self, driver: neo4j.Driver, database: str, dialect: Dialect, uri: str,
                 mapping: GraphMapping = DEFAULT):
        self.driver = driver
        self.database = database
        self.dialect = dialect
        self.uri = uri
        self._mapping = mapping
        self._resolved: GraphMapping | None = None

    @property
    def mapping(self) -> GraphMapping:
        """The graph mapping (graphrec.mapping), checked against this graph the first time it is needed."""
        if self._resolved is None:
            self._resolved = resolve(self, self._mapping)
        return self._resolved

    def remap(self, mapping: GraphMapping) -> None:
        """Read the graph through another mapping from now on (checked on first use)."""
        self._mapping, self._resolved = mapping, None

    def __enter__(self) -> "Graph":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.driver.close()

    def text(self, name: str, identifiers: dict | None = None) -> str:
        """The named statement, its identifier slots filled (see cypher.render): those given, and the mapping's
        (user, item, user_key, item_key, interactions, social, kg) for the slots not given."""
        text = cypher.statement(name)
        given = identifiers or {}
        if cypher.slots(text) <= set(given):  # all given: no need to read (and check) the mapping
            return cypher.render(text, **given) if given else text
        return self.mapping.render(text, **given)

    def _guard(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except _TRANSIENT as exc:
            raise DatabaseError(f"lost the connection to {self.uri} while running {what}: {exc}") from exc
        except Neo4jError as exc:
            raise DatabaseError(f"{what} failed on {self.uri}: {exc.message or exc}") from exc

    def query(self, text: str, params: dict | None = None, *, write: bool = False, what: str = "query") -> list[dict]:
        """Run one statement given as text (for `graphrec cypher`); rows come back as dicts."""
        routing = RoutingControl.WRITE if write else RoutingControl.READ
        result = self._guard(what, lambda: self.driver.execute_query(
            text, params or {}, database_=self.database, routing_=routing))
        return [record.data() for record in result.records]

    def user_query(self, text: str, params: dict | None = None) -> tuple[list[dict], list[str]]:
        """Run a user's own statement (``graphrec cypher``) in an auto-commit transaction: its rows, and the server's
        warnings about it (an unknown label or property, a deprecation), one line each, for the CLI to show."""
        def work() -> tuple[list[dict], list[str]]:
            with self.driver.session(database=self.database, notifications_min_severity="WARNING") as session:
                result = session.run(text, params or {})
                rows = [record.data() for record in result]
                summary = result.consume()
            return rows, [f"{' '.join(s.status_description.split())} (GQLSTATUS {s.gql_status})"
                          for s in summary.gql_status_objects if s.is_notification]
        return self._guard("the statement", work)

    def read(self, name: str, identifiers: dict | None = None, **params) -> list[dict]:
        """Run the named read statement with ``params`` as $parameters."""
        return self.query(self.text(name, identifiers), params, what=name)

    def write(self, name: str, identifiers: dict | None = None, **params) -> list[dict]:
        """Run the named write statement in its own transaction."""
        return self.query(self.text(name, identifiers), params, write=True, what=name)

    def autocommit(self, name: str, identifiers: dict | None = None, **params) -> None:
        """Run the named statement in an auto-commit transaction (what ``CALL {} IN TRANSACTIONS`` needs)."""
        text = self.text(name, identifiers)
        with self.driver.session(database=self.database) as session:
            self._guard(name, lambda: session.run(text, params).consume())

    def clear(self) -> None:
        """Delete every node and relationship (batched) and the vector indexes of graphrec's runs."""
        self.autocommit("db.clear")
        for row in self.read("db.graphrec_indexes"):
            self.write("db.drop_index", {"index": row["name"]})

    def stream(self, name: str, identifiers: dict | None = None, **params) -> Iterable[dict]:
        """Yield rows of a large read one by one, without holding them all."""
        text = self.text(name, identifiers)
        with self.driver.session(database=self.database, default_access_mode=neo4j.READ_ACCESS) as session:
            try:
                for record in session.run(text, params):
                    yield record.data()
            except Neo4jError as exc:
                raise DatabaseError(f"{name} failed on {self.uri}: {exc.message or exc}") from exc

    def write_batches(self, name: str, batches: Iterable[Sequence[dict]], on_batch: Callable[[Sequence[dict]], None] | None = None,
                      identifiers: dict | None = None, **params) -> int:
        """Write ``batches`` of rows with the named ``UNWIND $rows`` statement, one transaction per batch.

        A batch is all-or-nothing; a crash leaves whole batches behind, which the idempotent ingest re-runs safely.
        """
        text = self.text(name, identifiers)
        written = 0

        def work(tx: neo4j.ManagedTransaction, rows: Sequence[dict]) -> None:
            tx.run(text, rows=list(rows), **params).consume()

        with self.driver.session(database=self.database) as session:
            for rows in batches:
                self._guard(name, lambda: session.execute_write(work, rows))
                written += len(rows)
                if on_batch:
                    on_batch(rows)
        return written

    def apply_schema(self, own_only: bool = False) -> None:
        """Create the uniqueness constraints and indexes (idempotent: every statement says IF NOT EXISTS).
        ``own_only``: only those of graphrec's own nodes (ModelRun, GraphrecSource), for a graph in the user's shape,
        whose labels graphrec leaves as they are."""
        for name in cypher.names():
            if name.startswith("schema.") and not (own_only and name in ("schema.user_id_unique",
                                                                          "schema.item_id_unique",
                                                                          "schema.entity_id_unique")):
                text = cypher.statement(name)
                self._guard("schema", lambda: self.driver.execute_query(text, database_=self.database))


def connect(settings: Settings, retries: int = 3) -> Graph:
    """Open the configured graph: the external Neo4j at ``settings.uri``, or the embedded server (started on demand)."""
    if settings.embedded:
        server = EmbeddedServer.of(settings)
        status = server.start()
        uri, auth, database = status.uri, (USER, server.password()), DATABASE
        hint = f"see `graphrec db status` and {status.log_file}"
    else:
        uri, auth, database = settings.uri, (settings.user, settings.password), settings.database
        hint = "check NEO4J_URI, or start Neo4j with `docker compose up -d`"
    try:
        # graphrec's statements are its own: the server's notifications about them (an unknown label in an empty
        # graph, say) are noise for the user, so the server is asked not to send them. `graphrec cypher` asks for
        # the user's own statements' warnings explicitly (Graph.user_query).
        driver = GraphDatabase.driver(uri, auth=auth, max_connection_lifetime=3600,
                                      notifications_min_severity="OFF")
    except ValueError as exc:
        raise DatabaseError(f"cannot use URI {uri!r}: {exc}") from exc
    for attempt in range(retries):
        try:
            driver.verify_connectivity()
            agent = driver.get_server_info().agent
            break
        except AuthError as exc:
            driver.close()
            raise DatabaseError(f"authentication failed for user {auth[0]!r} at {uri}: check NEO4J_USER/NEO4J_PASSWORD") from exc
        except (ServiceUnavailable, SessionExpired, OSError) as exc:
            if attempt == retries - 1:
                driver.close()
                reason = " ".join(str(exc).split())  # the driver's message spans lines
                raise DatabaseError(f"cannot reach the graph database at {uri}: {reason}; {hint}") from exc
            time.sleep(1.0 + attempt)
        except ClientError as exc:
            driver.close()
            raise DatabaseError(f"{uri} refused the connection: {exc.message}") from exc
    try:
        dialect = detect(agent, uri)
    except DatabaseError:
        driver.close()
        raise
    graph = Graph(driver, database, dialect, uri, settings.mapping)
    graph.query("RETURN 1 AS ok", what=f"a first query on database {database!r}")
    return graph
