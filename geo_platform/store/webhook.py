"""Webhook notifications: post a JSON payload, with a timeout and retries, and no secrets.

Why plain ``urllib``: one POST does not justify an HTTP client dependency. Payloads go through
``scrub_secrets`` first (error messages can quote connection strings), and the webhook URL is
never logged in full (chat webhooks carry their token in the path).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from geo_platform.lib.errors import is_retryable

_SECRETS = [
    # user:password@ in URLs
    (re.compile(r"(?P<pre>[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@"), r"\g<pre>***@"),
    # Azure connection strings and SAS tokens
    (re.compile(r"(?i)(AccountKey|SharedAccessSignature|password|pwd)=[^;&\s'\"]+"), r"\1=***"),
    (re.compile(r"(?i)([?&]sig=)[^&\s'\"]+"), r"\1***"),
    # bearer tokens
    (re.compile(r"(?i)(bearer\s+)[a-z0-9._~+/=-]+"), r"\1***"),
]


def scrub_secrets(value: Any) -> Any:
    """``value`` (str, or JSON-like nesting of them) with passwords, keys and tokens masked."""
    if isinstance(value, str):
        for pattern, repl in _SECRETS:
            value = pattern.sub(repl, value)
        return value
    if isinstance(value, dict):
        return {k: scrub_secrets(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_secrets(v) for v in value]
    return value


def redact_webhook(url: str) -> str:
    """Scheme and host only: what a log line may say about the webhook."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/..."


@dataclass(frozen=True)
class PostResult:
    ok: bool
    status: int | None
    attempts: int
    error: str | None = None


def post_json(
    url: str,
    payload: dict[str, Any],
    *,
    timeout_s: float = 10.0,
    retries: int = 3,
    backoff_s: float = 1.0,
) -> PostResult:
    """POST ``payload`` (scrubbed) as JSON; retry transient failures with exponential backoff.

    Never raises: a notification that cannot be delivered must not fail the sensor that sends
    it (the result says what happened, for the sensor's log).
    """
    body = json.dumps(scrub_secrets(payload), default=str).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "geo-platform-notify"},
    )
    error = None
    status = None
    for attempt in range(1, retries + 2):
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as resp:
                return PostResult(True, resp.status, attempt)
        except Exception as exc:
            status = getattr(exc, "code", None)
            error = f"{type(exc).__name__}: {scrub_secrets(str(exc))}"[:300]
            if not is_retryable(exc) or attempt > retries:
                break
            time.sleep(backoff_s * 2 ** (attempt - 1))
    return PostResult(False, status, attempt, error)
