"""GA4GH Passport: a person's live grants as signed `ControlledAccessGrants` visas that another
research environment verifies with the public keys this service publishes (docs/standards.md).

`models` is the register of issued visas (what the status endpoint answers from), `signing_keys`
the key files and their rotation, `visas` the issuing and checking rules, then the API, the
download on the grants page and the `governance passport` commands.
"""
