"""`governance dataset create | ingest | list | verify`: datasets from the host's shell.

Commands act as the host operator (`System("cli")`): `ingest` needs no steward assignment,
because whoever runs it already holds the instance's keys. A refused upload prints every
problem found (the first 20) and exits non-zero with nothing stored.
"""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import select

from governance.cli.context import CLI_ACTOR, build_app, command_session, echo_table


@click.group("dataset", help="Declare datasets, ingest their data, list them.")
def dataset_group() -> None:
    """The `dataset` command group."""


@dataset_group.command(
    "create", help="Declare a dataset from a schema file (format: docs/datasets.md)."
)
@click.option("--provider", required=True, help="Name of the provider agency (must exist).")
@click.option("--name", required=True, help="The dataset's name.")
@click.option(
    "--schema",
    "schema_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option("--description", default=None, help="Overrides the schema file's description.")
@click.option(
    "--steward",
    "stewards",
    multiple=True,
    help="E-mail of a data steward to assign; repeat for several.",
)
def create_command(
    provider: str, name: str, schema_path: Path, description: str | None, stewards: tuple[str, ...]
) -> None:
    from governance.datasets import service as datasets
    from governance.identity.organization_model import Organization
    from governance.identity.users import find_user_by_email

    app = build_app()
    with command_session(app) as session:
        org = session.scalars(select(Organization).where(Organization.name == provider)).first()
        if org is None:
            raise click.ClickException(f"No organisation named {provider!r}.")
        schema_description, columns = datasets.parse_schema_json(
            schema_path.read_text(encoding="utf-8")
        )
        steward_ids = []
        for email in stewards:
            user = find_user_by_email(session, email)
            if user is None:
                raise click.ClickException(f"No account for {email!r}.")
            steward_ids.append(user.id)
        dataset = datasets.create_dataset(
            session,
            name=name,
            description=description or schema_description,
            provider_id=org.id,
            columns=columns,
            steward_ids=steward_ids,
            by=CLI_ACTOR,
        )
        session.commit()
        click.echo(
            f"Created dataset {dataset.id} {dataset.name!r} of {org.name} with "
            f"{len(columns)} columns."
        )


@dataset_group.command(
    "ingest",
    help="Check FILE (.csv or .parquet) against DATASET's schema "
    "(an id or a name) and store it as its next version.",
)
@click.argument("dataset_ref", metavar="DATASET")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def ingest_command(dataset_ref: str, file: Path) -> None:
    from governance.datasets import ingestion
    from governance.datasets import service as datasets
    from governance.datasets.ingest import IngestionRefused

    app = build_app()
    with command_session(app) as session:
        dataset = datasets.find_dataset(session, dataset_ref)
        limits = ingestion.limits_of(session)
        try:
            # The web has Flask's MAX_CONTENT_LENGTH; here the size is checked before reading
            # a byte (and again while streaming, should the file grow meanwhile).
            if file.stat().st_size > limits.max_bytes:
                raise ingestion.refuse_oversize(dataset, file.name, limits)
            with file.open("rb") as source:
                version = ingestion.ingest_upload(
                    session,
                    dataset_id=dataset.id,
                    source=source,
                    filename=file.name,
                    by=CLI_ACTOR,
                    limits=limits,
                )
        except IngestionRefused as refused:
            for problem in refused.problems:
                click.echo(f"  {problem.text}", err=True)
            raise
        session.commit()
        click.echo(
            f"Stored {file.name} as version {version.number} of {dataset.name}: "
            f"{version.row_count:,} rows, SHA-256 {version.sha256}."
        )


@dataset_group.command("list", help="List datasets with their latest stored version.")
def list_command() -> None:
    from governance.datasets.models import Dataset

    app = build_app()
    with command_session(app) as session:
        rows: list[tuple[object, ...]] = [
            ("ID", "PROVIDER", "NAME", "COLUMNS", "VERSION", "ROWS", "STORED")
        ]
        for dataset in session.scalars(select(Dataset).order_by(Dataset.id)):
            live = [v for v in dataset.versions if v.destroyed_at is None]
            latest = live[-1] if live else None
            rows.append(
                (
                    dataset.id,
                    dataset.provider.name,
                    dataset.name,
                    len(dataset.columns),
                    latest.number if latest else "-",
                    f"{latest.row_count:,}" if latest else "-",
                    f"{latest.created_at:%Y-%m-%d %H:%M}" if latest else "-",
                )
            )
        echo_table(rows)


@dataset_group.command(
    "verify",
    help="Check every live stored version decrypts and matches "
    "its SHA-256; exits 1 if any does not.",
)
def verify_command() -> None:
    from governance.datasets import datastore
    from governance.datasets.models import DatasetVersion

    app = build_app()
    failed = 0
    with command_session(app) as session:
        for version in session.scalars(
            select(DatasetVersion)
            .where(DatasetVersion.destroyed_at.is_(None))
            .order_by(DatasetVersion.id)
        ):
            ok = datastore.verify_version(version)
            failed += not ok
            click.echo(
                f"{'ok  ' if ok else 'FAIL'} dataset {version.dataset_id} "
                f"version {version.number} {version.sha256}"
            )
    if failed:
        raise click.ClickException(f"{failed} stored version(s) failed verification.")


COMMANDS = [dataset_group]
