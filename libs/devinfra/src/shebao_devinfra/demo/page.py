"""The report as one self-contained HTML page: tables written here, charts drawn in the browser
by the page's own script from the JSON embedded in it (inline SVG; nothing fetched, so the page
opens offline).

When the script has drawn, each chart's `<figure>` carries `data-marks` (bars, points and lines
drawn with a non-zero size) and `data-width`/`data-height` (its SVG's size on the page), and
`<html>` carries `data-charts="drawn N/M"`, or `data-charts="failed: ..."`: what the browser
test reads.
"""

from __future__ import annotations

import html
import json
from decimal import Decimal
from typing import Any

from .output import yuan

INSURANCE = {
    "pension": "pension",
    "medical": "medical",
    "unemployment": "unemployment",
    "work_injury": "work injury",
    "maternity": "maternity",
}


def _f(x: str | None) -> float:
    return float(Decimal(x)) if x is not None else 0.0


def charts(r: dict[str, Any]) -> list[dict[str, Any]]:
    """The charts' specifications: categories along the axis and one series of values each."""
    months = r["city"]["months"]
    co, b, w = r["contributions"], r["benefits"], r["welfare"]
    out: list[dict[str, Any]] = [
        {
            "id": "coverage",
            "title": "Coverage by insurance against the 95% target",
            "kind": "bars",
            "unit": "%",
            "categories": [INSURANCE[x["insurance"]] for x in r["coverage"]],
            "series": [
                {"name": "coverage", "values": [_f(x["rate"]) * 100 for x in r["coverage"]]}
            ],
            "ref": {"value": _f(r["coverage"][0]["target"]) * 100, "label": "target"},
        },
        {
            "id": "contributions",
            "title": "Contributions assessed and collected, by month (yuan)",
            "kind": "bars",
            "unit": "¥",
            "categories": months,
            "series": [
                {"name": "assessed", "values": [_f(x) for x in co["assessed"]]},
                {"name": "collected", "values": [_f(x) for x in co["collected"]]},
            ],
        },
        {
            "id": "hospitals",
            "title": "Medical fund paid, by hospital and month (yuan)",
            "kind": "bars",
            "unit": "¥",
            "categories": months,
            "series": [
                {
                    "name": f"{h['hospital']} ({h['level']})",
                    "values": [_f(x) for x in h["fund_by_month"]],
                }
                for h in r["claims"]["hospitals"]
            ],
        },
        {
            "id": "benefits",
            "title": "Benefits, assistance and subsidies paid, by month (yuan)",
            "kind": "bars",
            "unit": "¥",
            "categories": months,
            "series": [
                {"name": "unemployment benefit", "values": [_f(x) for x in b["benefit"]]},
                {"name": "unemployment price subsidy", "values": [_f(x) for x in b["subsidy"]]},
                {"name": "minimum-living allowance", "values": [_f(x) for x in w["allowance"]]},
                {"name": "extreme-poverty support", "values": [_f(x) for x in w["support"]]},
                {"name": "welfare price subsidy", "values": [_f(x) for x in w["subsidy"]]},
            ],
        },
    ]
    for f in r["funds"]:
        series = [{"name": "income", "values": [_f(x) for x in f["income"]]}]
        if f["spending"] is not None:
            series.append({"name": "spending", "values": [_f(x) for x in f["spending"]]})
        out.append(
            {
                "id": f"fund-{f['fund']}",
                "title": f"{INSURANCE[f['fund']].capitalize()} fund: income"
                + (" against spending" if f["spending"] is not None else "")
                + " by month (yuan)",
                "kind": "bars",
                "unit": "¥",
                "categories": months,
                "series": series,
                "note": f["note"],
            }
        )
    out.append(
        {
            "id": "cpi",
            "title": "CPI year on year, as the statistics bureau released it (%)",
            "kind": "line",
            "unit": "%",
            "categories": [x["month"] for x in r["cpi"]],
            "series": [{"name": "CPI", "values": [_f(x["cpi"]) for x in r["cpi"]]}],
            "ref": {"value": 3.0, "label": "price-subsidy trigger"},
        }
    )
    p = r["performance"]
    lat = [
        (n, p[k])
        for n, k in (("claim → answer", "claims_ms"), ("collection → booked", "collections_ms"))
    ]
    lat = [(n, q) for n, q in lat if q["n"]]
    out.append(
        {
            "id": "latency",
            "title": "Latency percentiles (ms, from the records' Kafka timestamps)",
            "kind": "bars",
            "unit": "ms",
            "categories": [n for n, _ in lat],
            "series": [
                {"name": q, "values": [float(x[q]) for _, x in lat]} for q in ("p50", "p90", "p99")
            ],
        }
    )
    return out


def _table(head: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _pct(rate: str | None) -> str:
    return f"{Decimal(rate) * 100:.1f}%" if rate is not None else "-"


def render(r: dict[str, Any]) -> str:
    city, months = r["city"], r["city"]["months"]
    specs = charts(r)
    co, b, w, p = r["contributions"], r["benefits"], r["welfare"], r["performance"]
    sections = []

    def fig(chart_id: str) -> str:
        spec = next(s for s in specs if s["id"] == chart_id)
        note = f"<figcaption>{html.escape(spec['note'])}</figcaption>" if "note" in spec else ""
        return (
            f'<figure class="chart" id="chart-{chart_id}" data-chart="{chart_id}">'
            f"<h3>{html.escape(spec['title'])}</h3>{note}</figure>"
        )

    sections.append(
        "<h2>Coverage</h2>"
        + fig("coverage")
        + _table(
            ["insurance", "insured", "population", "rate", "target met"],
            [
                [
                    INSURANCE[x["insurance"]],
                    x["insured"],
                    x["population"],
                    _pct(x["rate"]),
                    "yes" if x["above"] else "no",
                ]
                for x in r["coverage"]
            ],
        )
    )
    ry = co["resident_year"]
    sections.append(
        "<h2>Contributions</h2>"
        + fig("contributions")
        + _table(
            ["month", "employers", "persons", "assessed", "collected", "persons credited"],
            [
                [
                    mo,
                    co["employers"][i],
                    co["persons"][i],
                    yuan(co["assessed"][i]),
                    yuan(co["collected"][i]),
                    co["credited"][i],
                ]
                for i, mo in enumerate(months)
            ],
        )
        + f"<p>The residents' year 2025: {ry['payers']} residents assessed"
        f" ¥{yuan(ry['assessed'])}, collected ¥{yuan(ry['collected'])}. Arrears booked: "
        + (
            html.escape(
                ", ".join(
                    f"{a['employer']} {a['period']} ¥{yuan(a['arrears'])}" for a in co["arrears"]
                )
            )
            or "none"
        )
        + ".</p>"
    )
    sections.append(
        "<h2>Claims by hospital</h2>"
        + fig("hospitals")
        + _table(
            [
                "hospital",
                "level",
                "settled",
                "rejected",
                "cancelled",
                "fund paid",
                "serious illness",
                "medical assistance",
                "annual budget used",
            ],
            [
                [
                    h["hospital"],
                    h["level"],
                    h["settled"],
                    h["rejected"],
                    h["cancelled"],
                    yuan(h["fund"]),
                    yuan(h["serious"]),
                    yuan(h["assistance"]),
                    _pct(h["budget_used"]) if h["budget_used"] else "-",
                ]
                for h in r["claims"]["hospitals"]
            ],
        )
    )
    sections.append(
        "<h2>Benefits, assistance and subsidies</h2>"
        + fig("benefits")
        + _table(
            [
                "month",
                "benefit recipients",
                "benefits",
                "medical contributions",
                "price subsidy (unemployment)",
                "households on the allowance",
                "allowances",
                "persons supported",
                "support",
                "price subsidy (welfare)",
            ],
            [
                [
                    mo,
                    b["recipients"][i],
                    yuan(b["benefit"][i]),
                    yuan(b["medical"][i]),
                    yuan(b["subsidy"][i]),
                    w["households"][i],
                    yuan(w["allowance"][i]),
                    w["supported"][i],
                    yuan(w["support"][i]),
                    yuan(w["subsidy"][i]),
                ]
                for i, mo in enumerate(months)
            ],
        )
        + f"<p>The job centre's registrations: {b['granted']} granted, refused: "
        + html.escape(", ".join(f"{k} {v}" for k, v in b["refused"].items()) or "none")
        + ".</p>"
        + fig("cpi")
    )
    sections.append(
        "<h2>Each fund's income and spending</h2>"
        + "".join(fig(s["id"]) for s in specs if s["id"].startswith("fund-"))
    )
    lat_rows = []
    for name, key in (("claim → answer", "claims_ms"), ("collection → booked", "collections_ms")):
        q = p[key]
        if q["n"]:
            lat_rows.append(
                [
                    name,
                    q["n"],
                    f"{q['p50']:.0f}",
                    f"{q['p90']:.0f}",
                    f"{q['p99']:.0f}",
                    f"{q['max']:.0f}",
                ]
            )
    sections.append(
        "<h2>Throughput and latency</h2>"
        + fig("latency")
        + _table(["", "n", "p50 ms", "p90 ms", "p99 ms", "max ms"], lat_rows)
        + _table(
            ["month", "claims", "seconds from first claim to last answer", "claims a second"],
            [
                [
                    x["month"],
                    x["claims"],
                    f"{x['seconds']:.1f}",
                    f"{x['claims'] / x['seconds']:.0f}",
                ]
                for x in p["claim_bursts"]
            ],
        )
        + _table(
            ["service", "records handled in the city's run", "a second, on average"],
            [[s["service"], s["records"], s["per_second"]] for s in p["services"]],
        )
    )
    sections.append(
        "<h2>The platform's figures against what the city sent</h2>"
        + _table(
            ["", "sent", "platform", ""],
            [
                [x["what"], x["expected"], x["platform"], "agrees" if x["ok"] else "DIFFERS"]
                for x in r["checks"]
            ],
        )
    )
    data = json.dumps({"charts": specs}, ensure_ascii=False).replace("</", "<\\/")
    intro = (
        f"{city['people']} people, {city['employers']} employers, three hospitals"
        f" ({', '.join(city['hospitals'])}), tax bureau {city['bureau']}, statistics bureau"
        f" {city['stats']}, months {months[0]} to {months[-1]}; seed {city['seed']}. Every"
        " figure is what the platform published on its topics or answered on its services'"
        " read side."
    )
    return f"""<!doctype html>
<html lang="en" data-charts="pending">
<head>
<meta charset="utf-8">
<title>{html.escape(r["title"])}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{html.escape(r["title"])}</h1>
<p>{html.escape(intro)}</p>
{"".join(f"<section>{s}</section>" for s in sections)}
<script type="application/json" id="report-data">{data}</script>
<script>{_JS}</script>
</body>
</html>
"""


_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1080px;
  color: #1d2733; padding: 0 16px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ccd; }
h3 { font-size: 14px; margin: 4px 0; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border-bottom: 1px solid #e3e6ea; padding: 3px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure.chart { margin: 12px 0; } figcaption { color: #556; font-size: 12px; }
figure.chart svg { width: 100%; max-width: 760px; height: auto; display: block; }
.legend { font-size: 12px; color: #334; }
.legend span { display: inline-block; margin-right: 14px; white-space: nowrap; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
td { white-space: nowrap; }
"""

_JS = r"""
(function () {
  var COLORS = ["#2f6fab", "#e08a2c", "#4a9a5b", "#b8434f", "#7b5ea7", "#8c6d3f"];
  var NS = "http://www.w3.org/2000/svg";
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function fmt(v, unit) {
    if (unit === "%") return v.toFixed(1) + "%";
    if (unit === "ms") return Math.round(v) + " ms";
    if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (Math.abs(v) >= 1e3) return (v / 1e3).toFixed(0) + "k";
    return String(Math.round(v));
  }
  function draw(fig, spec) {
    var W = 760, H = 270, L = 64, R = 16, T = 16, B = 32;
    var svg = el("svg", {viewBox: "0 0 " + W + " " + H, role: "img"}, fig);
    var all = [];
    spec.series.forEach(function (s) { all = all.concat(s.values); });
    var top = Math.max.apply(null, all.concat([spec.ref ? spec.ref.value : 0, 1e-9]));
    top = top * 1.1;
    var y = function (v) { return T + (H - T - B) * (1 - v / top); };
    for (var i = 0; i <= 4; i++) {
      var v = top * i / 4;
      el("line", {x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e3e6ea"}, svg);
      el("text", {x: L - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11,
                  fill: "#556"}, svg).textContent = fmt(v, spec.unit);
    }
    var n = spec.categories.length, band = (W - L - R) / Math.max(n, 1);
    spec.categories.forEach(function (c, i) {
      el("text", {x: L + band * (i + 0.5), y: H - B + 16, "text-anchor": "middle",
                  "font-size": 11, fill: "#334"}, svg).textContent = c;
    });
    var marks = [];
    if (spec.kind === "line") {
      spec.series.forEach(function (s, k) {
        var pts = s.values.map(function (v, i) { return [L + band * (i + 0.5), y(v)]; });
        var d = pts.map(function (p, i) { return (i ? "L" : "M") + p[0] + " " + p[1]; });
        marks.push(el("path", {d: d.join(" "), fill: "none", stroke: COLORS[k % 6],
                               "stroke-width": 2, "class": "mark"}, svg));
        pts.forEach(function (p, i) {
          var dot = el("circle", {cx: p[0], cy: p[1], r: 4, fill: COLORS[k % 6],
                                  "class": "mark"}, svg);
          el("title", {}, dot).textContent = spec.categories[i] + ": " +
            fmt(s.values[i], spec.unit);
          marks.push(dot);
        });
      });
    } else {
      var m = spec.series.length, bw = band * 0.8 / m;
      spec.series.forEach(function (s, k) {
        s.values.forEach(function (v, i) {
          var x = L + band * i + band * 0.1 + bw * k;
          var r = el("rect", {x: x, y: y(v), width: Math.max(bw - 1, 1),
                              height: Math.max(y(0) - y(v), 0), fill: COLORS[k % 6],
                              "class": "mark"}, svg);
          el("title", {}, r).textContent = s.name + ", " + spec.categories[i] + ": " +
            fmt(v, spec.unit);
          marks.push(r);
        });
      });
    }
    if (spec.ref) {
      el("line", {x1: L, x2: W - R, y1: y(spec.ref.value), y2: y(spec.ref.value),
                  stroke: "#b8434f", "stroke-dasharray": "5 4"}, svg);
      el("text", {x: W - R, y: y(spec.ref.value) - 4, "text-anchor": "end", "font-size": 11,
                  fill: "#b8434f"}, svg).textContent = spec.ref.label + " " +
        fmt(spec.ref.value, spec.unit);
    }
    el("line", {x1: L, x2: W - R, y1: y(0), y2: y(0), stroke: "#334"}, svg);
    var legend = document.createElement("div");  // in HTML, so that it wraps
    legend.className = "legend";
    spec.series.forEach(function (s, k) {
      var item = document.createElement("span");
      var swatch = document.createElement("i");
      swatch.style.background = COLORS[k % 6];
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(s.name));
      legend.appendChild(item);
    });
    fig.appendChild(legend);
    var drawn = marks.filter(function (e) {
      var b = e.getBoundingClientRect();
      return b.width > 0 && b.height > 0;
    }).length;
    var box = svg.getBoundingClientRect();
    fig.setAttribute("data-marks", String(drawn));
    fig.setAttribute("data-width", String(Math.round(box.width)));
    fig.setAttribute("data-height", String(Math.round(box.height)));
    return drawn > 0 && box.width > 0 && box.height > 0;
  }
  try {
    var data = JSON.parse(document.getElementById("report-data").textContent);
    var byId = {};
    data.charts.forEach(function (c) { byId[c.id] = c; });
    var figs = document.querySelectorAll("figure.chart");
    var ok = 0;
    figs.forEach(function (f) { if (draw(f, byId[f.getAttribute("data-chart")])) ok++; });
    document.documentElement.setAttribute("data-charts", "drawn " + ok + "/" + figs.length);
  } catch (e) {
    document.documentElement.setAttribute("data-charts", "failed: " + e);
  }
})();
"""
