"""Typed errors, and the API key never leaking into reprs, logs or exceptions."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import pytest
from conftest import API_KEY, WRONG_KEY, Sim, source

import iterable_connector as ic
from iterable_connector import (
    AuthError,
    ConfigError,
    IterableAPIError,
    IterableConnectorError,
    IterableSource,
)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"region": "MARS"}, "region"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"start_date": "2024-02-01", "end_date": "2024-01-01"}, "end_date"),
        ({"window_days": 0}, "window_days"),
        ({"user_key": "phone"}, "user_key"),
        ({"base_url": "ftp://x"}, "base_url"),
        ({"max_concurrency": 1000}, "max_concurrency"),
    ],
)
def test_config_errors_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        IterableSource(api_key=API_KEY, **kwargs)
    assert info.value.field == field
    assert info.value.kind == "invalid-config"
    assert isinstance(info.value, ValueError)
    assert API_KEY not in str(info.value)


def test_unknown_config_key_is_rejected() -> None:
    with pytest.raises(ConfigError) as info:
        IterableSource(api_key=API_KEY, start_daet="2024-01-01")
    assert "start_daet" in str(info.value)


def test_missing_key_and_bad_streams() -> None:
    with pytest.raises(ConfigError) as info:
        IterableSource(api_key="")
    assert info.value.field == "api_key"
    src = IterableSource(api_key=API_KEY, base_url="http://127.0.0.1:1")
    with pytest.raises(ConfigError) as info:
        src.read("no_such_stream")
    assert info.value.field == "streams"
    with pytest.raises(ConfigError):
        src.read("events")  # needs email or user_id
    with pytest.raises(ConfigError) as info:
        src.read("email_send", state={"email_send": {"v": 99}})
    assert info.value.field == "state.email_send"


def test_wrong_key_is_an_auth_error(sim: Sim) -> None:
    bad = source(sim, api_key=WRONG_KEY)
    with pytest.raises(AuthError) as info:
        bad.check()
    assert info.value.status == 401
    assert isinstance(info.value, IterableAPIError)
    with pytest.raises(AuthError):
        list(bad.read("email_send"))
    source(sim).check()  # the right key passes


def test_unreachable_host_is_an_api_error() -> None:
    src = IterableSource(api_key=API_KEY, base_url="http://127.0.0.1:1", max_retries=0)
    with pytest.raises(IterableAPIError) as info:
        src.check()
    assert info.value.retryable
    with pytest.raises(IterableConnectorError):
        list(src.read("channels"))


def test_the_key_never_leaks(sim: Sim, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    src = source(sim)
    bad = source(sim, api_key=WRONG_KEY)
    texts += [repr(src), str(src), repr(src.config), repr(bad), repr(src.transport)]
    reader = src.read(["email_send", "campaigns"])
    texts.append(repr(reader))
    for _ in reader.read_records():
        pass
    texts += [repr(reader), repr(reader.state), repr(reader.summary)]
    src.check()
    for call in (bad.check, lambda: list(bad.read("email_send"))):
        try:
            call()
        except IterableConnectorError as e:
            texts += [str(e), repr(e), "".join(traceback.format_exception(e)), repr(vars(e))]
    try:
        IterableSource(api_key=API_KEY, region="MARS")
    except ConfigError as e:
        texts += [str(e), repr(e), "".join(traceback.format_exception(e))]
    # A transport error message that happened to carry the key is scrubbed too.
    texts.append(str(ic.TransportError("other", f"boom {API_KEY}")))
    assert caplog.records, "expected debug logs from the driver"
    texts += [r.getMessage() for r in caplog.records]
    texts += [caplog.text]
    for t in texts:
        assert API_KEY not in t
        assert WRONG_KEY not in t


def test_source_cannot_be_pickled() -> None:
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(IterableSource(api_key=API_KEY))
