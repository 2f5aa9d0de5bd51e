"""Data access committees: a committee of an organisation decides access requests by a rule."""
