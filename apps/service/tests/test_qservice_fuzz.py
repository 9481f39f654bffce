"""Hypothesis fuzz of what parses outside input: the BQM schema, the paging cursor, the
Authorization header, and the SSE parser of the client."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from qservice.errors import InvalidInput, LimitExceeded, Unauthorized
from qservice.jobs.store import _decode_cursor
from qservice.routes.qcore import BQMIn

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["vartype", "linear", "quadratic", "offset"]), json_values))
def test_bqm_schema_accepts_only_valid_models(data):
    try:
        model = BQMIn.model_validate(data)
    except ValidationError:
        return
    bqm = model.to_bqm()  # whatever passed validation builds a model dimod accepts
    assert bqm.vartype.name == model.vartype
    try:
        model.check_size(5, 5)
    except LimitExceeded as exc:
        assert "limit" in str(exc)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_cursor_decoding_never_crashes(text):
    try:
        _decode_cursor(text)
    except InvalidInput as exc:
        assert "cursor" in str(exc)


@pytest.fixture(scope="module")
def store_db(tmp_path_factory):  # type: ignore[no-untyped-def]
    from qservice.config import Settings
    from qservice.db import Database

    db = Database(Settings(database_url=f"sqlite:///{tmp_path_factory.mktemp('f') / 'f.db'}"))
    db.migrate()
    yield db
    db.dispose()


@settings(max_examples=200, deadline=None)
@given(header=st.one_of(st.none(), st.text(max_size=120)))
def test_authorization_header_is_401_unless_a_stored_key(header, store_db):
    from qservice.security import authenticate

    with store_db.session() as s, pytest.raises(Unauthorized):
        authenticate(s, header)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=5), st.integers(), max_size=3), max_size=5))
def test_client_reads_back_what_the_server_streams(events):
    import httpx

    from qservice import Client

    text = "".join(
        f"id: {i}\nevent: progress\ndata: {json.dumps(e)}\n\n" for i, e in enumerate(events)
    )
    text += "event: end\ndata: {}\n\n"
    transport = httpx.MockTransport(
        lambda request: httpx.Response(
            200, text=text, headers={"content-type": "text/event-stream"}
        )
    )
    client = Client("http://test", "key")
    client.http = httpx.Client(base_url="http://test", transport=transport)
    assert list(client.events("x")) == events
