"""Parley's local WhatsApp Business Cloud API sandbox (``python -m parley.sandbox``)."""
