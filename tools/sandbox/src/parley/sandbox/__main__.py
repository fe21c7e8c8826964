"""``python -m parley.sandbox``: serve the Cloud API sandbox (settings from ``SANDBOX_*``)."""

from __future__ import annotations

import json
import logging

import uvicorn

from parley.sandbox.app import create_app
from parley.sandbox.settings import SandboxSettings


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
                 "message": record.getMessage(), "service": "sandbox"}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def main() -> None:
    settings = SandboxSettings()
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)
    logging.getLogger("parley.sandbox").info("Cloud API sandbox on %s:%s, webhooks to %s", settings.host,
                                             settings.port, settings.webhook_url or "(none configured)")
    # Idle connections stay open a minute, as Graph's do (uvicorn's default of 5 s is far shorter).
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None,
                log_level=settings.log_level.lower(), access_log=False, timeout_keep_alive=65)


if __name__ == "__main__":
    main()
