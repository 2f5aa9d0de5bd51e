"""Data use agreements: terms, lifecycle, laws, documents, and the destruction of data
when an agreement closes."""
