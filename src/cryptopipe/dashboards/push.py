"""Upload the generated dashboards to a user's Grafana through grafana-client.

Grafana's HTTP API (https://grafana.com/docs/grafana/latest/developers/http_api/): ``GET
/api/health`` (no auth) tells a Grafana from another server, ``GET /api/folders`` and ``POST
/api/folders`` find or create the folder, ``POST /api/dashboards/db`` creates or updates a
dashboard (``overwrite``; a 412 ``version-mismatch`` / ``name-exists`` without it). Every failure
becomes a ``PushError`` whose message says what to do; the token is never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import niquests
from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

logger = logging.getLogger(__name__)

DEFAULT_FOLDER = "cryptopipe"
TIMEOUT_S = 10.0


class PushError(Exception):
    """A push that failed, with the message the user sees (what happened, what to do)."""


@dataclass(frozen=True)
class Pushed:
    name: str
    uid: str
    version: int
    url: str


def _fail(exc: Exception, url: str, what: str) -> PushError:
    if isinstance(exc, GrafanaClientError) and exc.status_code == 401:
        return PushError(
            f"Grafana at {url} refused the token (401 Unauthorized) while {what}: give a valid "
            "service account token with --token (or CRYPTOPIPE_GRAFANA_TOKEN); create one under "
            "Administration > Users and access > Service accounts"
        )
    if isinstance(exc, GrafanaClientError) and exc.status_code == 403:
        return PushError(
            f"Grafana at {url} denied {what} (403): the token's service account needs the "
            "Editor role (or dashboards:write and folders:create)"
        )
    if isinstance(exc, GrafanaException) and exc.status_code == 412:
        body = exc.response if isinstance(exc.response, dict) else {}
        return PushError(
            f"Grafana at {url} kept its copy while {what} (412 {body.get('status', '')}: "
            f"{body.get('message', exc)}); re-run with --overwrite to replace it"
        )
    if isinstance(exc, niquests.exceptions.RequestException):
        return PushError(
            f"cannot reach Grafana at {url} while {what} ({type(exc).__name__}): check --url "
            "(scheme, host and port, e.g. http://localhost:3000) and that Grafana is running"
        )
    return PushError(f"Grafana at {url} failed while {what}: {exc}")


def connect(url: str, token: str) -> GrafanaApi:
    """A client for ``url``, after checking that a Grafana answers there."""
    api: GrafanaApi = GrafanaApi.from_url(url.rstrip("/"), credential=token, timeout=TIMEOUT_S)
    try:
        health = api.client.GET("/health")
    except (GrafanaException, niquests.exceptions.RequestException, ValueError) as exc:
        if isinstance(exc, GrafanaException | ValueError):
            raise PushError(
                f"{url} does not answer like a Grafana (GET /api/health: {exc}): check --url"
            ) from exc
        raise _fail(exc, url, "checking its health") from exc
    if not isinstance(health, dict) or "database" not in health:
        raise PushError(f"{url} does not answer like a Grafana (GET /api/health): check --url")
    logger.info("Grafana %s at %s", health.get("version", "?"), url)
    return api


def folder_uid(api: GrafanaApi, url: str, title: str) -> str:
    """The uid of the folder called ``title``, created when there is none."""
    try:
        for folder in api.folder.get_all_folders():  # type: ignore[no-untyped-call]
            if folder.get("title") == title:
                return str(folder["uid"])
        created = api.folder.create_folder(title)  # type: ignore[no-untyped-call]
    except (GrafanaException, niquests.exceptions.RequestException) as exc:
        raise _fail(exc, url, f"finding or creating folder {title!r}") from exc
    logger.info("created Grafana folder %r (uid %s)", title, created["uid"])
    return str(created["uid"])


def push_all(
    url: str,
    token: str,
    boards: Mapping[str, dict[str, Any]],
    folder: str = DEFAULT_FOLDER,
    overwrite: bool = True,
) -> list[Pushed]:
    api = connect(url, token)
    uid = folder_uid(api, url, folder)
    done = []
    for name, board in boards.items():
        payload = {
            "dashboard": {**board, "id": None},
            "folderUid": uid,
            "overwrite": overwrite,
            "message": "cryptopipe dashboards push",
        }
        try:
            reply = api.dashboard.update_dashboard(payload)  # type: ignore[no-untyped-call]
        except (GrafanaException, niquests.exceptions.RequestException) as exc:
            raise _fail(exc, url, f"uploading {name}") from exc
        done.append(Pushed(name, str(reply["uid"]), int(reply["version"]), str(reply["url"])))
        logger.info("pushed %s as %s version %s", name, reply["uid"], reply["version"])
    return done
