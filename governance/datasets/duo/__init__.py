"""The GA4GH Data Use Ontology: the shipped release (`data/`), its terms (`ontology`), the
matching of a purpose against data-use conditions (`matching`) and reading statements
(`statements`)."""
