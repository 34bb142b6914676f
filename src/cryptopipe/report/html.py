"""The report as one self-contained HTML page: inline CSS, PNGs as data: URIs, no script, no
network. Every panel is a ``<figure class="panel has-data">`` with its image or a ``<figure
class="panel no-data">`` that says why there is none."""

from __future__ import annotations

import base64
import html
import logging
from collections.abc import Sequence

from cryptopipe.report.build import Drawn, SloRow
from cryptopipe.report.plots import HEIGHT_PX, WIDTH_PX

logger = logging.getLogger(__name__)

CSS = """
body { font-family: sans-serif; margin: 1.5em; background: #f7f8fa; color: #1f2328; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.meta { color: #57606a; font-size: 0.9em; }
.panels { display: flex; flex-wrap: wrap; gap: 1em; }
figure.panel { background: #fff; border: 1px solid #d0d7de; border-radius: 6px;
  margin: 0; padding: 0.6em; width: 920px; }
figure.panel img { display: block; max-width: 100%; height: auto; }
figure.no-data .why { color: #9a6700; background: #fff8c5; padding: 1em; margin: 0; }
figcaption { font-weight: bold; margin-bottom: 0.3em; }
figcaption small { display: block; font-weight: normal; color: #57606a; }
table.slo { border-collapse: collapse; background: #fff; }
table.slo th, table.slo td { border: 1px solid #d0d7de; padding: 0.3em 0.6em; text-align: right; }
table.slo th:first-child, table.slo td:first-child { text-align: left; }
td.bad { background: #ffebe9; } td.good { background: #dafbe1; }
"""

PERCENT = ("SLI now", "objective", "budget remaining")


def _pct(v: float) -> str:
    return f"{v * 100:.3f}%"


def slo_html(rows: Sequence[SloRow]) -> str:
    if not rows:
        return '<p class="no-data why">No SLO recording rules have series yet.</p>'
    windows = list(dict.fromkeys(w for r in rows for w in r.burn))
    head = ["SLO", *PERCENT, "alerts firing", *(f"burn {w}" for w in windows)]
    out = ['<table class="slo" id="slo-table"><tr>']
    out += [f"<th>{html.escape(h)}</th>" for h in head]
    out.append("</tr>")
    for r in rows:
        name = r.slo + (f" ({r.series})" if r.series else "")
        cells = [f"<td>{html.escape(name)}</td>"]
        for col in PERCENT:
            v = r.values.get(col)
            cls = ' class="bad"' if col == "budget remaining" and v is not None and v < 0 else ""
            cells.append(f"<td{cls}>{'-' if v is None else _pct(v)}</td>")
        firing = r.values.get("alerts firing")
        cells.append(f"<td>{'-' if firing is None else f'{firing:.0f}'}</td>")
        for w in windows:
            b = r.burn.get(w)
            cls = "bad" if b is not None and b >= 1 else "good"
            cells.append(f'<td class="{cls}">{"-" if b is None else f"{b:.2f}"}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


def figure(d: Drawn) -> str:
    caption = f"<figcaption>{html.escape(d.title)}<small>{html.escape(d.description)}</small>"
    caption += "</figcaption>"
    title = html.escape(d.title, quote=True)
    if d.png is None:
        why = html.escape(d.note or "no data")
        return (
            f'<figure class="panel no-data" data-panel="{title}">{caption}'
            f'<p class="why">No data: {why}</p></figure>'
        )
    data = base64.b64encode(d.png).decode()
    return (
        f'<figure class="panel has-data" data-panel="{title}">{caption}'
        f'<img src="data:image/png;base64,{data}" width="{WIDTH_PX}" height="{HEIGHT_PX}" '
        f'alt="{title}"></figure>'
    )


def page(title: str, meta: str, slo: Sequence[SloRow], drawn: Sequence[Drawn]) -> str:
    sections: dict[str, list[str]] = {}
    for d in drawn:
        sections.setdefault(d.dashboard, []).append(figure(d))
    body = [f"<h1>{html.escape(title)}</h1>", f'<p class="meta">{html.escape(meta)}</p>']
    body += ["<h2>SLOs: budget remaining and burn rates</h2>", slo_html(slo)]
    for name, figures in sections.items():
        body.append(f'<h2>{html.escape(name)}</h2><div class="panels">{"".join(figures)}</div>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">"
        f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )
