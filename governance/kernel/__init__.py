"""The shared kernel: database, settings, errors, keys, job queue, scheduler, mail,
text cleaning and the PDF and chart toolkit. It imports no noun of the domain."""
