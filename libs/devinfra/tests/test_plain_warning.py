"""aiokafka's warning about SASL PLAIN over plaintext is said once a process, not on every
connection the benchmark or the demo opens as the local broker's operator."""

from __future__ import annotations

import logging

import pytest
from aiokafka import conn

from shebao_devinfra.local import PLAIN_WARNING, _SaidOnce, warn_plain_once


def test_the_plain_warning_is_said_once_and_others_still_are(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = conn.log  # the logger aiokafka warns with, on each connection
    before = list(logger.filters)
    # a test that started a broker before this one (same process) has installed the filter and
    # had it say the warning already: start from a logger without it
    logger.filters[:] = [f for f in before if not isinstance(f, _SaidOnce)]
    try:
        warn_plain_once()
        warn_plain_once()  # installed once however often asked
        with caplog.at_level(logging.WARNING, logger="aiokafka.conn"):
            for _ in range(3):
                logger.warning(PLAIN_WARNING)
            logger.warning("Unable to connect to the broker")
            logger.warning("Unable to connect to the broker")
        said = [r.getMessage() for r in caplog.records if r.name == "aiokafka.conn"]
        assert said == [PLAIN_WARNING] + ["Unable to connect to the broker"] * 2
    finally:
        logger.filters[:] = before


def test_aiokafka_still_warns_in_these_words() -> None:
    """The filter matches aiokafka's text; an aiokafka that rewords it fails here."""
    import inspect

    assert f'log.warning("{PLAIN_WARNING}")' in inspect.getsource(conn)
