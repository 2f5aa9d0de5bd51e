"""Forms of the analysis pages: the scope (agreement and kind, sent with GET), the run form and
the cohort upload; `parameters_from` turns the run form into the engine's parameters."""

from __future__ import annotations

from typing import Any

from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DecimalField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from governance.analysis.engine.kinds_matched import DEFAULT_COVARIATES
from governance.web.forms import Form, choices

CATEGORICAL_DEFAULT = "sex, index_disposal, offence_category, ethnicity"


class ScopeForm(Form):
    agreement_id = SelectField("Agreement", coerce=int, validators=[DataRequired()])
    kind = SelectField(
        "Analysis (one of the agreement's permitted uses)", validators=[DataRequired()]
    )


class RunForm(Form):
    title = StringField("Title of the analysis", validators=[Optional(), Length(max=200)])
    records_dataset = SelectField(
        "Dataset with the person records", coerce=int, validators=[Optional()]
    )
    index_events_dataset = SelectField(
        "Dataset with the index events", coerce=int, validators=[Optional()]
    )
    offences_dataset = SelectField(
        "Dataset with the proven offences", coerce=int, validators=[Optional()]
    )
    group_by = StringField(
        "Group by (1 to 3 columns, separated by commas)", validators=[Optional(), Length(max=400)]
    )
    rate_of = StringField(
        "Rate of (a 0/1 column, or reoffended)", validators=[Optional(), Length(max=120)]
    )
    mean_of = StringField(
        "Mean of (a number column, reoffences or days_to_first_reoffence)",
        validators=[Optional(), Length(max=120)],
    )
    group_column = StringField(
        "Column that defines the two groups", validators=[Optional(), Length(max=120)]
    )
    group_a = StringField("First group (value)", validators=[Optional(), Length(max=120)])
    group_b = StringField("Second group (value)", validators=[Optional(), Length(max=120)])
    outcome = StringField(
        "Outcome (a 0/1 column, or reoffended)", validators=[Optional(), Length(max=120)]
    )
    interval = SelectField(
        "Confidence interval of the difference",
        choices=choices(
            [
                ("wald", "Wald, unpooled (the JDL's)"),
                ("newcombe", "Newcombe hybrid score (better for small groups or rare outcomes)"),
            ]
        ),
        default="wald",
        validate_choice=False,
    )
    variance = SelectField(
        "Standard errors",
        choices=choices(
            [
                (
                    "abadie_imbens",
                    "Abadie-Imbens, adjusted for the estimated propensity score (2016)",
                ),
                ("abadie_imbens_2006", "Abadie-Imbens without that adjustment (2006)"),
                ("welch", "Weighted Welch (ignores both)"),
            ]
        ),
        default="abadie_imbens",
        validate_choice=False,
    )
    covariates = StringField(
        "Covariates (separated by commas)",
        default=", ".join(DEFAULT_COVARIATES),
        validators=[Optional(), Length(max=1000)],
    )
    categorical = StringField(
        "Categorical covariates",
        default=CATEGORICAL_DEFAULT,
        validators=[Optional(), Length(max=1000)],
    )
    method = SelectField(
        "Matching method",
        choices=choices([("nearest", "Nearest neighbour"), ("radius", "Radius (caliper)")]),
    )
    neighbours = IntegerField(
        "Comparison people per treated person (nearest)",
        default=1,
        validators=[Optional(), NumberRange(1, 10)],
    )
    replace = BooleanField("Match with replacement")
    caliper = DecimalField(
        "Caliper (SD of the logit of the propensity score; empty for none)",
        default=0.2,
        places=3,
        validators=[Optional(), NumberRange(0, 5)],
    )
    max_abs_smd = DecimalField(
        "Largest acceptable |standardised mean difference| (empty for "
        "the agreement's; you may only ask for less)",
        places=3,
        validators=[Optional(), NumberRange(0, 5)],
    )
    data_complete_until = StringField(
        "Offence records complete until (YYYY-MM-DD)", validators=[Optional(), Length(max=10)]
    )
    cohort_id = SelectField("Partner cohort file", coerce=int, validators=[Optional()])


# The fields each kind's page shows; the others are removed before validation, so a field of one
# kind (the matched comparison's matching method) is never required of another.
KIND_FIELDS: dict[str, set[str]] = {
    "matched_comparison": {
        "cohort_id",
        "index_events_dataset",
        "offences_dataset",
        "covariates",
        "categorical",
        "method",
        "neighbours",
        "replace",
        "caliper",
        "variance",
        "max_abs_smd",
        "data_complete_until",
    },
    "rate_comparison": {
        "records_dataset",
        "offences_dataset",
        "group_column",
        "group_a",
        "group_b",
        "outcome",
        "interval",
    },
    "descriptive": {"records_dataset", "offences_dataset", "group_by", "rate_of", "mean_of"},
}


def run_form(kind: str) -> RunForm:
    """The run form with only the title and the kind's own fields."""
    form = RunForm()
    keep = KIND_FIELDS.get(kind, KIND_FIELDS["descriptive"]) | {"title"}
    for name in [name for name in form._fields if name not in keep]:
        delattr(form, name)
    return form


class CohortForm(Form):
    label = StringField("Label", validators=[Optional(), Length(max=200)])
    file = FileField(
        "Cohort CSV (name, date_of_birth, sex, intervention_start, intervention_end)",
        validators=[FileRequired()],
    )


def _names(text: str | None) -> list[str]:
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def _optional(text: str | None) -> str | None:
    return (text or "").strip() or None


def parameters_from(form: RunForm, kind: str) -> tuple[dict[str, Any], dict[str, int]]:
    """The engine's parameters and the table -> dataset choice for the kind."""
    if kind == "matched_comparison":
        matching: dict[str, Any] = {
            "method": form.method.data,
            "neighbours": int(form.neighbours.data or 1),
            "replace": bool(form.replace.data),
            "caliper": None if form.caliper.data is None else float(form.caliper.data),
            "variance": form.variance.data or "abadie_imbens",
        }
        eligibility = {"data_complete_until": _optional(form.data_complete_until.data)}
        params: dict[str, Any] = {
            "covariates": _names(form.covariates.data) or list(DEFAULT_COVARIATES),
            "categorical": _names(form.categorical.data),
            "matching": matching,
            "eligibility": {k: v for k, v in eligibility.items() if v is not None},
        }
        if form.max_abs_smd.data is not None:
            params["max_abs_smd"] = float(form.max_abs_smd.data)
        tables = {
            "index_events": form.index_events_dataset.data,
            "offences": form.offences_dataset.data,
        }
    elif kind == "rate_comparison":
        params = {
            "group_column": (form.group_column.data or "").strip(),
            "group_a": (form.group_a.data or "").strip(),
            "group_b": (form.group_b.data or "").strip(),
            "outcome": (form.outcome.data or "").strip(),
            "interval": form.interval.data or "wald",
        }
        tables = {"records": form.records_dataset.data, "offences": form.offences_dataset.data}
    else:
        params = {"group_by": _names(form.group_by.data)}
        for field in ("rate_of", "mean_of"):
            value = _optional(getattr(form, field).data)
            if value:
                params[field] = value
        tables = {"records": form.records_dataset.data, "offences": form.offences_dataset.data}
    return params, {table: int(i) for table, i in tables.items() if i}
