"""The Python package on the recorded fixtures shared with the Rust tests
(``tests/fixtures/``, iterable-api.md §7): same requests, same records."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fixtures import Answer, ReplayTransport, all_fixtures, json_answer, load

from iterable_connector import IterableSource


def read(
    stream: str, transport: ReplayTransport, **config: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    src = IterableSource("sk-fixture-key", transport=transport, time_scale=1000, **config)
    reader = src.read(stream)
    try:
        records = list(reader)
    finally:
        # A request no fixture matched fails here with its reason first.
        transport.assert_each_served_once()
    return records, reader.state


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_fixtures_load() -> None:
    fixtures = all_fixtures()
    assert len(fixtures) >= 40
    for f in fixtures:
        assert f.path.startswith("/api/"), f.name
        assert 200 <= f.status < 300, f.name
        if dict(f.headers).get("content-type") == "application/json":
            f.json()


def test_campaigns() -> None:
    t = ReplayTransport([load("campaigns", "page")])
    records, state = read("campaigns", t)
    assert [r["id"] for r in records] == [2220229, 2197857]
    blast, triggered = records
    assert blast["name"] == "Spring sale — blast"
    assert blast["createdAt"] == "2021-04-14T16:23:07.154Z"
    assert blast["updatedAt"] == "2021-04-14T16:25:53.314Z"
    assert blast["endedAt"] == "2021-04-14T16:25:54.626Z"
    assert blast["listIds"] == [949814]
    assert triggered["campaignState"] == "Running"
    assert triggered["updatedAt"] == "2021-04-08T14:26:41Z"
    assert "startAt" not in triggered
    assert len(t.sent) == 1
    assert state["campaigns"]["cursor"] == "2021-04-14T16:25:53.314Z"


def test_campaigns_metrics_csv() -> None:
    metrics = load("campaigns_metrics", "two_campaigns")
    t = ReplayTransport([load("campaigns", "page"), metrics])
    records, _ = read("campaigns_metrics", t)
    assert len(records) == len(metrics.lines()) - 1
    a, b = records
    assert len(a) == 17
    assert a["id"] == 2220229
    assert a["Total Email Opens"] == 10
    assert a["Average Order Value"] == 0
    assert a["Total Pushes Sent"] is None
    assert b["id"] == 2197857
    assert b["Total Email Sends"] is None
    assert b["Unique Pushes Sent"] == 0


def test_lists_and_list_users() -> None:
    records, _ = read("lists", ReplayTransport([load("lists", "all")]))
    assert [(r["id"], r["createdAt"]) for r in records] == [
        (982885, "2021-05-04T21:58:23.370Z"),
        (949814, "2021-04-08T14:25:08.857Z"),
    ]

    def other_list(method: str, url: str) -> Answer:
        assert urlsplit(url).path == "/api/lists/getUsers"
        assert _query(url)["listId"] == ["982885"]
        return (200, "text/plain", b"")

    t = ReplayTransport([load("lists", "all"), load("lists_getUsers", "three")], other_list)
    records, _ = read("list_users", t)
    assert [(r["listId"], r["email"]) for r in records] == [
        (949814, "jane@example.com"),
        (949814, "john@example.com"),
        (949814, "y.k@example.org"),
    ]
    assert len(t.sent) == 3


def _window(name: str) -> dict[str, str]:
    f = load("export_data_json", name)
    return {
        "start_date": f.param("startDateTime")[:10],
        "end_date": f.param("endDateTime")[:10],
    }


@pytest.mark.parametrize(
    ("stream", "data_type", "checks"),
    [
        (
            "email_send",
            "emailSend",
            {
                "createdAt": "2021-04-14T16:25:56Z",
                "campaignId": 2220229,
                "itblInternal": {
                    "documentCreatedAt": "2021-04-14T16:25:56Z",
                    "documentUpdatedAt": "2021-04-14T16:25:56Z",
                },
            },
        ),
        ("email_click", "emailClick", {"createdAt": "2021-04-14T16:27:42Z", "hrefIndex": 1}),
        (
            "email_send_skip",
            "emailSendSkip",
            {
                "createdAt": "2021-04-14T16:25:57Z",
                "messageId": "9f1c…",
                "transactionalData": {"eventName": "cartAbandoned", "sku": "A-1", "price": 20},
            },
        ),
        (
            "email_subscribe",
            "emailSubscribe",
            {"createdAt": "2021-04-14T16:49:04Z", "profileUpdatedAt": "2021-04-14T16:48:01Z"},
        ),
        ("email_unsubscribe", "emailUnSubscribe", {"createdAt": "2021-04-14T17:00:43Z"}),
        (
            "in_app_click",
            "inAppClick",
            {"sentAt": "2024-03-01T11:00:00Z", "expiresAt": "2024-04-01T11:00:00Z"},
        ),
        ("purchase", "purchase", {"total": 45.5, "createdAt": "2024-03-05T15:00:00Z"}),
    ],
)
def test_export_events(stream: str, data_type: str, checks: dict[str, Any]) -> None:
    f = load("export_data_json", data_type)
    t = ReplayTransport([f])
    records, state = read(stream, t, **_window(data_type))
    assert len(records) == len(f.lines()) == 1
    rec = records[0]
    for k, v in checks.items():
        assert rec[k] == v, k
    assert rec["email"] == json.loads(f.lines()[0])["email"]
    assert len(rec["_key"]) == 32
    assert state[stream]["cursor"] == rec["createdAt"]
    assert state[stream]["next_start"] == f.param("endDateTime")[:10] + "T00:00:00Z"


def test_export_users() -> None:
    t = ReplayTransport([load("export_data_json", "user")])
    records, state = read("users", t, **_window("user"))
    assert len(records) == 1
    u = records[0]
    assert u["profileUpdatedAt"] == "2021-04-14T16:45:13Z"
    assert u["signupDate"] == "2021-04-14T16:46:01Z"
    assert u["itblInternal.emailDomain"] == "example.com"
    assert u["someDate"] == "2015-11-13"
    assert state["users"]["cursor"] == "2021-04-14T16:45:13Z"


def test_catalog_items() -> None:
    def last_page(method: str, url: str) -> Answer:
        assert _query(url)["page"] == ["2"]
        return json_answer(
            {
                "msg": "",
                "code": "Success",
                "params": {"catalogItemsWithProperties": [], "totalItemsCount": 5},
            }
        )

    t = ReplayTransport([load("catalogs_items", "restaurants_page1")], last_page)
    records, _ = read("catalog_items", t, catalog_names=["restaurants"])
    assert [(r["itemId"], r["lastModified"]) for r in records] == [
        ("restaurant-123", "2024-01-01T00:00:00Z"),
        ("restaurant-124", "2024-01-01T00:01:00Z"),
    ]
    assert records[0]["value"]["location"] == {"lat": 37.78, "lon": -122.42}


def test_user_fields() -> None:
    t = ReplayTransport([load("users_getFields", "all")])
    src = IterableSource("sk-fixture-key", transport=t)
    fields = src.user_fields()
    assert fields["fields"]["LTV"] == "double"
    t.assert_each_served_once()
