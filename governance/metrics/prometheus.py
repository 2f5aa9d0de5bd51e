"""The operators' Prometheus endpoint, `/metrics`, and the timing of every HTTP request.

Protected by a bearer token (METRICS_TOKEN): without the setting the endpoint does not exist
(404), without the right token it answers 401. The figures are counts and durations by Flask
endpoint name, method and status class, the queue's depth, job failures by task name, the
audit trail's write latency and the age of its last signed checkpoint: nothing names a
person, an agreement, a dataset or a column (docs/metrics.md; a test reads the output).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from functools import partial

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from governance.audit.models import AuditCheckpoint
from governance.identity.web_login import declare_check
from governance.kernel import jobs, telemetry
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow

bp = Blueprint("prometheus", __name__)
# Any other word a client sends as a method is counted as "other": labels stay few.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ScrapeTimeFigures(Collector):
    """What is read when Prometheus asks rather than counted as it happens."""

    def __init__(self, queue_depth: int, checkpoint_age: float | None) -> None:
        self.queue_depth = queue_depth
        self.checkpoint_age = checkpoint_age

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "governance_queue_pending_jobs",
            "Messages waiting on the job queue (huey's pending count).",
            value=self.queue_depth,
        )
        if self.checkpoint_age is not None:
            yield GaugeMetricFamily(
                "governance_audit_checkpoint_age_seconds",
                "Seconds since the audit trail's last signed checkpoint.",
                value=self.checkpoint_age,
            )


def _refusal() -> Response | None:
    """404 when no token is set (the endpoint does not exist), a bare 401 for a wrong or
    missing token (no page, no session cookie: a scraper reads neither); None to go on."""
    expected = str(current_app.config.get("METRICS_TOKEN") or "")
    if not expected:
        raise NotFound()
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), expected.encode()):
        return None
    return Response(
        "Send the metrics token as a bearer token.\n",
        status=401,
        mimetype="text/plain",
        headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
    )


@bp.route("/metrics")
@partial(declare_check, check="the operators' bearer token (METRICS_TOKEN); 404 without it")
def scrape() -> Response:
    refused = _refusal()
    if refused is not None:
        return refused
    last = db_session().scalar(
        select(AuditCheckpoint.created_at).order_by(AuditCheckpoint.seq.desc()).limit(1)
    )
    age = None if last is None else max(0.0, (utcnow() - last).total_seconds())
    depth = jobs.pending_count(jobs.queue_url(current_app.config))
    body, content_type = telemetry.exposition(ScrapeTimeFigures(depth, age))
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


def _start_timer() -> None:
    g.request_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.pop("request_started", None)
    if started is not None:
        # The route's name, never its path: /agreements/<id> is one series, not one per id.
        endpoint = request.url_rule.endpoint if request.url_rule is not None else "unmatched"
        method = request.method if request.method in METHODS else "other"
        telemetry.observe_request(
            endpoint, method, response.status_code, time.perf_counter() - started
        )
    return response


def install(app: Flask) -> None:
    """Time every request and serve /metrics."""
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.register_blueprint(bp)
