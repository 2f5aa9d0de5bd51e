"""`worker` (run analysis jobs from the queue) and `analyses reap` (recover stranded runs)."""

from __future__ import annotations

import click

from governance.cli.context import APP_FACTORY, build_app
from governance.kernel import telemetry


@click.command(
    "worker",
    help="Run analysis jobs from the queue (QUEUE_URL) in worker "
    "processes; several workers may run at once.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 32),
    help="Worker processes in this consumer.",
)
def worker_command(workers: int) -> None:
    from governance.analysis import worker
    from governance.analysis.reaper import reap_runs
    from governance.kernel import jobs
    from governance.kernel.extensions import database
    from governance.periodic import run_job

    # The worker's job failures, in a folder of its own that every server's /metrics sums.
    telemetry.use_own_directory("worker")
    app = build_app()
    url = app.config["QUEUE_URL"]
    with app.app_context():
        recovered = run_job(database(app).sessions, reap_runs)
    # The worker processes build their own engines; none is shared across the fork.
    database(app).dispose()
    click.echo(
        f"Analysis worker: {workers} process(es) on {url.split('@')[-1]}; "
        f"{recovered} stranded run(s) recovered at start."
    )
    worker.run_consumer(jobs.queue_for(url), workers=workers, app_factory=APP_FACTORY.get())


@click.group("analyses", help="Analysis runs.")
def analyses_group() -> None:
    """Commands about analysis runs."""


@analyses_group.command(
    "reap",
    help="Retry or fail runs whose worker died, and re-send "
    "messages of queued runs that have none.",
)
def reap_command() -> None:
    from governance.analysis.reaper import reap_runs
    from governance.kernel.extensions import database
    from governance.periodic import run_job

    app = build_app()
    with app.app_context():
        changed = run_job(database(app).sessions, reap_runs)
    click.echo(f"{changed} run(s) retried, failed or re-sent.")


COMMANDS = [worker_command]
