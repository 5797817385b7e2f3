"""The driver's warning for each transaction it redoes is counted, not printed (graphrec.db.connect)."""

import logging

from graphrec.db.connect import retried_transactions


def test_retried_transactions_are_counted_and_not_logged(caplog):
    log = logging.getLogger("neo4j.session")
    before = retried_transactions()
    with caplog.at_level(logging.WARNING):
        log.warning("Transaction failed and will be retried in %ss (%s)", 1.1, "DeadlockDetected ...")
        log.warning("some other warning from the driver")
    assert retried_transactions() == before + 1
    assert [r.getMessage() for r in caplog.records] == ["some other warning from the driver"]
