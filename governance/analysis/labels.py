"""What people read for the codes analyses produce: offence categories, the steps of a matched
comparison's flow, outcomes and the figures of a result (registered in `kernel.labels`)."""

from __future__ import annotations

LABELS: dict[str, str] = {
    # offence categories
    "public_order": "Public order",
    "domestic_violence": "Domestic violence",
    # the flow of people through a matched comparison
    "in_treatment_group": "In the treatment group",
    "invalid_name": "Name not valid",
    "invalid_date_of_birth": "Date of birth not valid",
    "invalid_sex": "Sex not valid",
    "invalid_intervention_dates": "Intervention dates not valid",
    "duplicate_in_cohort": "Listed more than once in the cohort",
    "multiple_interventions": "More than one intervention",
    "ambiguous": "Matched more than one person",
    "not_found": "Not found in the data",
    "clerical_review": "Awaiting clerical review of the linkage",
    "match": "Same person",
    "non_match": "Different people",
    "no_index_event": "No index event",
    "missing_age": "Age missing",
    "under_min_age": "Under the minimum age",
    "excluded_offence_category": "Offence category excluded by the agreement",
    "incomplete_follow_up": "Follow-up period incomplete",
    "no_control_within_caliper": "No comparison person close enough (caliper)",
    "no_control_left": "No comparison person left to match",
    # outcomes and figures
    "reoffending_rate": "One-year proven re-offending rate",
    "reoffence_frequency": "Proven re-offences per 100 people",
    "time_to_reoffence": "Days to first proven re-offence",
    "ci_low": "Lower bound of the interval",
    "ci_high": "Upper bound of the interval",
    "p_value": "p-value",
    "max_abs_smd": "Largest standardised mean difference",
    "date_of_birth": "Date of birth",
    "index_date": "Index date",
    "offence_category": "Offence category",
    "rate_comparison": "Rate comparison",
    "matched_comparison": "Matched comparison",
}
