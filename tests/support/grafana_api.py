"""A local server speaking the part of Grafana's HTTP API that `cryptopipe dashboards push` uses.

There is no Grafana on this machine. This server follows Grafana's HTTP API docs (Dashboard API,
Folder API, Health API; https://grafana.com/docs/grafana/latest/developers/http_api/):

- ``GET /api/health``: no auth; ``{"commit", "database": "ok", "version"}``.
- Every other ``/api`` route wants ``Authorization: Bearer <token>``; a wrong token gets 401
  ``{"message": "Invalid API key", "messageId": "api-key.invalid", "statusCode": 401}``, no
  header 401 ``{"message": "Unauthorized"}``.
- ``GET /api/folders``: ``[{"id", "uid", "title"}]``; ``POST /api/folders`` ``{"title", "uid"?}``:
  the folder (``version`` 1, ``url`` /dashboards/f/<uid>/<slug>); 409 when the uid or title exists.
- ``POST /api/dashboards/db`` ``{"dashboard", "folderUid", "overwrite", "message"}``: 200
  ``{"id", "uid", "url": "/d/<uid>/<slug>", "status": "success", "version", "slug"}``; 400 on a
  missing title or unknown folder; 412 ``version-mismatch`` when a dashboard of that uid exists
  with another version and overwrite is false, 412 ``name-exists`` when another uid has the title
  in the folder. A new dashboard gets version 1, every save of an existing one version + 1.
- ``GET /api/dashboards/uid/<uid>``: ``{"dashboard", "meta": {"folderUid", "version", ...}}``;
  ``GET /api/search?type=dash-db``: the dashboards' hits.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import threading
from typing import Any

from aiohttp import web

Handler = Any


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


class FakeGrafana:
    """Run with ``with FakeGrafana(token) as g:``; ``g.url`` is the Grafana base URL."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.folders: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}  # uid -> {"dashboard", "folderUid"}
        self.requests: list[tuple[str, str]] = []
        self._next_id = 1
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if request.path == "/api/health":
            return await handler(request)  # type: ignore[no-any-return]
        header = request.headers.get("Authorization", "")
        if not header:
            return web.json_response({"message": "Unauthorized"}, status=401)
        if header != f"Bearer {self.token}":
            body = {
                "extra": None,
                "message": "Invalid API key",
                "messageId": "api-key.invalid",
                "statusCode": 401,
                "traceID": "",
            }
            return web.json_response(body, status=401)
        return await handler(request)  # type: ignore[no-any-return]

    async def health(self, _request: web.Request) -> web.Response:
        return web.json_response({"commit": "fake", "database": "ok", "version": "11.6.0"})

    async def list_folders(self, _request: web.Request) -> web.Response:
        return web.json_response(
            [{"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in self.folders.values()]
        )

    async def create_folder(self, request: web.Request) -> web.Response:
        body = await request.json()
        title = body.get("title")
        if not title:
            return web.json_response({"message": "folder title cannot be empty"}, status=400)
        uid = body.get("uid") or secrets.token_hex(7)
        if uid in self.folders or any(f["title"] == title for f in self.folders.values()):
            return web.json_response(
                {"message": "a folder with the same name already exists"}, status=409
            )
        folder = {
            "id": self._id(),
            "uid": uid,
            "title": title,
            "url": f"/dashboards/f/{uid}/{_slug(title)}",
            "hasAcl": False,
            "canSave": True,
            "canEdit": True,
            "canAdmin": True,
            "version": 1,
        }
        self.folders[uid] = folder
        return web.json_response(folder)

    async def save_dashboard(self, request: web.Request) -> web.Response:
        body = await request.json()
        board = dict(body.get("dashboard") or {})
        folder = body.get("folderUid") or ""
        overwrite = bool(body.get("overwrite"))
        if not board.get("title"):
            return web.json_response({"message": "Dashboard title cannot be empty"}, status=400)
        if folder and folder not in self.folders:
            return web.json_response({"message": "folder not found"}, status=400)
        uid = board.get("uid") or secrets.token_hex(7)
        existing = self.dashboards.get(uid)
        if existing and not overwrite and board.get("version") != existing["dashboard"]["version"]:
            return web.json_response(
                {
                    "message": "The dashboard has been changed by someone else",
                    "status": "version-mismatch",
                },
                status=412,
            )
        same_title = [
            u
            for u, d in self.dashboards.items()
            if u != uid and d["folderUid"] == folder and d["dashboard"]["title"] == board["title"]
        ]
        if same_title and not overwrite:
            return web.json_response(
                {
                    "message": "A dashboard with the same name in the folder already exists",
                    "status": "name-exists",
                },
                status=412,
            )
        for u in same_title:
            del self.dashboards[u]
        board["uid"] = uid
        board["id"] = existing["dashboard"]["id"] if existing else self._id()
        board["version"] = existing["dashboard"]["version"] + 1 if existing else 1
        self.dashboards[uid] = {"dashboard": board, "folderUid": folder}
        slug = _slug(board["title"])
        return web.json_response(
            {
                "id": board["id"],
                "uid": uid,
                "url": f"/d/{uid}/{slug}",
                "status": "success",
                "version": board["version"],
                "slug": slug,
            }
        )

    async def get_dashboard(self, request: web.Request) -> web.Response:
        saved = self.dashboards.get(request.match_info["uid"])
        if saved is None:
            return web.json_response({"message": "Dashboard not found"}, status=404)
        board = saved["dashboard"]
        meta = {
            "folderUid": saved["folderUid"],
            "version": board["version"],
            "slug": _slug(board["title"]),
        }
        return web.json_response({"dashboard": board, "meta": meta})

    async def search(self, request: web.Request) -> web.Response:
        hits = []
        for uid, saved in self.dashboards.items():
            folder = self.folders.get(saved["folderUid"], {})
            hits.append(
                {
                    "id": saved["dashboard"]["id"],
                    "uid": uid,
                    "title": saved["dashboard"]["title"],
                    "type": "dash-db",
                    "url": f"/d/{uid}/{_slug(saved['dashboard']['title'])}",
                    "folderUid": saved["folderUid"],
                    "folderTitle": folder.get("title", "General"),
                    "tags": saved["dashboard"].get("tags", []),
                }
            )
        if request.query.get("type", "dash-db") == "dash-folder":
            hits = []
        return web.json_response(hits)

    async def _start(self) -> None:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/api/health", self.health)
        app.router.add_get("/api/folders", self.list_folders)
        app.router.add_post("/api/folders", self.create_folder)
        app.router.add_post("/api/dashboards/db", self.save_dashboard)
        app.router.add_get("/api/dashboards/uid/{uid}", self.get_dashboard)
        app.router.add_get("/api/search", self.search)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def __enter__(self) -> FakeGrafana:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
