"""What looks like a credential never survives into stored text; ordinary error words do."""

from __future__ import annotations

import json

import pytest

from spendtag.redaction import error_summary, redact


@pytest.mark.parametrize(("text", "expected"), [
    ("Incorrect API key provided: sk-proj-Zx81TqLm0c9VbN4sRw7YhU2eKa5Jd3Fg. See docs.",
     "Incorrect API key provided: [redacted]. See docs."),
    ("Incorrect API key provided: sk-abc12***************************xyz9.",
     "Incorrect API key provided: [redacted]."),
    ("header Authorization: Bearer abc.def-123", "header Authorization: Bearer [redacted]"),
    ("GET /v1beta/models/x:generateContent?key=AIzaSyA1234567890abcdefghijk&alt=sse",
     "GET /v1beta/models/x:generateContent?key=[redacted]&alt=sse"),
    ('{"api_key": "plain-words-secret"}', '{"api_key": "[redacted]"}'),
    ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl here", "token [redacted] here"),
    ("hash 0123456789abcdef0123456789abcdef01", "hash [redacted]"),
    ("blob QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk= end", "blob [redacted] end"),
    ("The model `gpt-4o` does not exist or you do not have access to it.",
     "The model `gpt-4o` does not exist or you do not have access to it."),
    ("Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000.",
     "Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000."),
])
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_error_summary_keeps_type_and_code_and_a_short_redacted_message() -> None:
    openai_401 = {"error": {"message": "Incorrect API key provided: sk-proj-Zx81TqLm0c9VbN4sRw7YhU2eKa5Jd3Fg.",
                            "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}
    assert error_summary(json.dumps(openai_401).encode()) == \
        "invalid_request_error invalid_api_key: Incorrect API key provided: [redacted]."
    anthropic = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert error_summary(json.dumps(anthropic)) == "overloaded_error: Overloaded"
    gemini = {"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}}
    assert error_summary(json.dumps(gemini)) == "INVALID_ARGUMENT 400: API key not valid."
    assert error_summary(b"<html>\n  Bad   gateway </html>") == "<html> Bad gateway </html>"
    assert error_summary(json.dumps({"error": {"message": "x" * 500}}), limit=20) == "x" * 19 + "…"
