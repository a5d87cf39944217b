"""What an alert says: text, JSON and Slack renderings (exact money, no floats, safe Slack markup)."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from spendtag.guard.alerts import Alert, Contributor, render_json, render_slack, render_subject, render_text
from spendtag.money import PICO_PER_USD, parse_usd

ALERT = Alert(
    id="acme-retainer|2026-03|80%",
    kind="threshold",
    budget="acme-retainer",
    scope="client=acme",
    threshold="80%",
    spent=parse_usd("241.50"),
    limit=parse_usd("300"),
    period="2026-03",
    days_left=Decimal(17),
    projected=parse_usd("410"),
    contributors=(
        Contributor("agent", "planner", parse_usd("120")),
        Contributor("model", "claude-sonnet-4-5", parse_usd("80.123456789")),
    ),
    fired_at=datetime(2026, 3, 14, 10, 30, tzinfo=UTC),
)


def _walk(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _walk(v)]
    if isinstance(value, list):
        return [x for v in value for x in _walk(v)]
    return [value]


def test_text_says_what_was_crossed_spent_limit_days_projection_and_contributors() -> None:
    assert render_text(ALERT) == (
        "Budget acme-retainer (client=acme) crossed 80% for 2026-03. "
        "Spent $241.50 of $300.00 (80.5%). "
        "17 days left in the period. "
        "At the current rate: $410.00 by the end of the period (136.7% of the limit, $110.00 over). "
        "Top contributors: agent planner $120.00, model claude-sonnet-4-5 $80.12."
    )


def test_text_for_a_stop_threshold_without_limit_projection_or_contributors() -> None:
    alert = dataclasses.replace(ALERT, threshold="stop 100%", limit=None, days_left=Decimal(1), projected=None,
                                contributors=(), message="Calls are now refused.")
    assert render_text(alert) == (
        "Budget acme-retainer (client=acme) reached its stop threshold 100% for 2026-03. "
        "Spent $241.50 (no limit). 1 day left in the period. Calls are now refused."
    )


def test_text_for_each_kind_leads_with_what_happened() -> None:
    forecast = dataclasses.replace(ALERT, kind="forecast", threshold="forecast", spent=parse_usd("120"))
    assert render_text(forecast).startswith(
        "Budget acme-retainer (client=acme) is forecast to exceed its limit before 2026-03 ends. "
        "Spent $120.00 of $300.00 (40%).")
    anomaly = dataclasses.replace(ALERT, kind="anomaly", budget=None, scope="agent=planner", threshold="anomaly",
                                  message="Hourly spend is 12x its 30-day median.")
    assert render_text(anomaly).startswith("Unusual spend in agent=planner in 2026-03.")
    assert render_text(anomaly).endswith("Hourly spend is 12x its 30-day median.")
    test = dataclasses.replace(ALERT, kind="test")
    assert render_text(test).startswith("Test alert from spendtag for acme-retainer: if you can read this")


def test_text_lists_five_contributors_and_counts_the_rest() -> None:
    many = tuple(Contributor("session", f"s{i}", parse_usd(str(10 - i))) for i in range(7))
    text = render_text(dataclasses.replace(ALERT, contributors=many))
    assert "session s4 $6.00 and 2 more." in text
    assert "s5" not in text


def test_days_left_fractions() -> None:
    assert "2.5 days left" in render_text(dataclasses.replace(ALERT, days_left=Decimal("2.5")))
    assert "Less than a day left" in render_text(dataclasses.replace(ALERT, days_left=Decimal("0.25")))
    assert "The period has ended." in render_text(dataclasses.replace(ALERT, days_left=Decimal(0)))


def test_subject() -> None:
    assert render_subject(ALERT) == "spendtag: acme-retainer at 80% ($241.50 of $300.00, 2026-03)"
    sneaky = dataclasses.replace(ALERT, budget="acme\r\nBcc: everyone@example.com")
    assert "\n" not in render_subject(sneaky) and "\r" not in render_subject(sneaky)
    forecast = dataclasses.replace(ALERT, kind="forecast", threshold="forecast")
    assert render_subject(forecast) == (
        "spendtag: acme-retainer forecast over its limit ($241.50 of $300.00, projected $410.00, 2026-03)")


def test_json_has_every_field_and_money_as_exact_strings() -> None:
    body = render_json(ALERT)
    assert body == {
        "schema": "spendtag.alert/1",
        "id": "acme-retainer|2026-03|80%",
        "kind": "threshold",
        "budget": "acme-retainer",
        "scope": "client=acme",
        "threshold": "80%",
        "period": "2026-03",
        "spent_usd": "241.50",
        "limit_usd": "300.00",
        "percent": "80.5",
        "days_left": "17",
        "projected_usd": "410.00",
        "projected_percent": "136.67",
        "contributors": [
            {"kind": "agent", "name": "planner", "cost_usd": "120.00"},
            {"kind": "model", "name": "claude-sonnet-4-5", "cost_usd": "80.123456789"},
        ],
        "message": "",
        "fired_at": "2026-03-14T10:30:00+00:00",
        "text": render_text(ALERT),
    }
    assert json.loads(json.dumps(body)) == body


def test_json_without_limit_or_projection_uses_null() -> None:
    body = render_json(dataclasses.replace(ALERT, limit=None, projected=None, days_left=None))
    assert (body["limit_usd"], body["percent"], body["projected_usd"], body["days_left"]) == (None, None, None, None)


@given(spent=st.integers(0, 10**20), limit=st.one_of(st.none(), st.integers(1, 10**20)),
       cost=st.integers(0, 10**20))
def test_json_money_round_trips_exactly_and_never_floats(spent: int, limit: int | None, cost: int) -> None:
    alert = dataclasses.replace(ALERT, spent=spent, limit=limit, projected=spent * 2,
                                contributors=(Contributor("agent", "a", cost),))
    body = render_json(alert)
    assert not any(isinstance(v, float) for v in _walk(body))
    assert Decimal(body["spent_usd"]) * PICO_PER_USD == spent
    assert Decimal(body["projected_usd"]) * PICO_PER_USD == spent * 2
    assert Decimal(body["contributors"][0]["cost_usd"]) * PICO_PER_USD == cost
    if limit is not None:
        assert Decimal(body["limit_usd"]) * PICO_PER_USD == limit
    assert re.fullmatch(r"\d+\.\d+", body["spent_usd"])  # plain decimal, never exponent notation


def test_slack_payload_shape() -> None:
    payload = render_slack(ALERT)
    assert set(payload) == {"text", "blocks"}
    assert payload["text"] == render_text(ALERT)
    types = [b["type"] for b in payload["blocks"]]
    assert types == ["header", "section", "section", "context"]
    header = payload["blocks"][0]["text"]
    assert header == {"type": "plain_text", "text": "acme-retainer at 80% ($241.50 of $300.00, 2026-03)"}
    fields = {f["text"].split("\n")[0]: f["text"].split("\n", 1)[1] for f in payload["blocks"][1]["fields"]}
    assert fields == {
        "*Spent*": "$241.50 of $300.00 (80.5%)",
        "*Threshold*": "80%",
        "*Scope*": "client=acme",
        "*Period*": "2026-03 (17 days left)",
        "*Projected at the current rate*": "$410.00 by the end of the period (136.7% of the limit, $110.00 over)",
    }
    assert all(f["type"] == "mrkdwn" for f in payload["blocks"][1]["fields"])
    assert payload["blocks"][2]["text"]["text"] == (
        "*Top contributors*\n• agent `planner` $120.00\n• model `claude-sonnet-4-5` $80.12")
    assert "2026-03-14 10:30 UTC" in payload["blocks"][3]["elements"][0]["text"]
    json.dumps(payload)  # serialisable as is


def test_slack_escapes_markup_and_respects_header_limit() -> None:
    alert = dataclasses.replace(ALERT, budget="<!channel> " + "x" * 200, scope="client=a&b",
                                message="see <https://evil.example|here>")
    payload = render_slack(alert)
    dumped = json.dumps(payload["blocks"][1:])
    assert "<!channel>" not in dumped and "&lt;!channel&gt;" in dumped
    assert "client=a&amp;b" in dumped
    assert "<https://evil" not in json.dumps(payload)
    assert len(payload["blocks"][0]["text"]["text"]) <= 150
