"""Access to dataset rows: requests, grants, eligibility, conditions, periodic review,
reclassification, and the one door every read goes through."""
