"""Outputs of analyses: content checks, the provider's preview, output checking, release,
publication and public files."""
