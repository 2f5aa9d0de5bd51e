"""Access to dataset rows: requests, grants, eligibility, conditions, periodic review, and the
one door every read goes through."""
