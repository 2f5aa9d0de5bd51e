"""Each role's dashboard: the tasks waiting for it and the pictures, gathered from the nouns."""
