// aioscout report: summary cards, SVG bar charts, page groups and a virtual table.
// Every string that came from a scanned server is shown with textContent only.
"use strict";
(function () {
  var ROW_H = 24;
  var SVGNS = "http://www.w3.org/2000/svg";
  var rows = JSON.parse(document.getElementById("rows").textContent);
  var meta = JSON.parse(document.getElementById("meta").textContent);
  var COLS = meta.columns;
  var C = {};
  COLS.forEach(function (name, i) { C[name] = i; });
  var rowGroups = meta.row_groups;
  for (var r = 0; r < rows.length; r++) rows[r][C.group] = rowGroups[r];
  var SHOWN = ["kind", "target", "status", "title", "server", "tech", "ip", "port", "error", "time_ms", "screenshot"];
  var WIDTHS = ["60px", "2.2fr", "60px", "2fr", "1fr", "1fr", "110px", "60px", "110px", "80px", "60px"];
  var NUMERIC = { status: true, port: true, time_ms: true, group: true };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // ---- summary ----
  function card(label, value, list) {
    var box = el("div", "card");
    box.appendChild(el("div", "n", value));
    box.appendChild(el("div", "l", label));
    if (list) {
      var ul = el("ul");
      Object.keys(list).forEach(function (k) { ul.appendChild(el("li", null, k + ": " + list[k])); });
      box.appendChild(ul);
    }
    return box;
  }
  var s = meta.summary;
  var summary = document.getElementById("summary");
  summary.appendChild(card("records", s.total, s.kinds));
  summary.appendChild(card("successes", s.ok));
  summary.appendChild(card("errors", s.total - s.ok, s.errors));
  if (s.timing && s.timing.count) {
    summary.appendChild(card("median time (ms)", s.timing.median_ms,
      { p95: s.timing.p95_ms, max: s.timing.max_ms }));
  }
  summary.appendChild(card("page groups", meta.group_count));
  document.getElementById("meta-line").textContent =
    "from " + meta.sources.join(", ") + " · generated " + meta.generated;

  // ---- charts ----
  var TITLES = {
    status: "Status codes", tech: "Technologies", server: "Servers",
    tls_expiry: "TLS certificates expiring (month)", dns_answers: "DNS answers per name",
    ports: "Open ports per service"
  };
  var FIELD = { status: "status", tech: "tech", server: "server", ports: "server" };
  function chart(name, bars) {
    var box = el("div", "chart");
    box.id = "chart-" + name;
    box.appendChild(el("h3", null, TITLES[name] || name));
    var max = 1;
    bars.forEach(function (b) { if (b[1] > max) max = b[1]; });
    var labelW = 150, barW = 230, h = 18;
    var svg = document.createElementNS(SVGNS, "svg");
    svg.setAttribute("width", String(labelW + barW + 70));
    svg.setAttribute("height", String(bars.length * h + 4));
    bars.forEach(function (b, i) {
      var y = i * h + 2;
      var label = document.createElementNS(SVGNS, "text");
      label.setAttribute("x", "0"); label.setAttribute("y", String(y + 12));
      var text = String(b[0]);
      label.textContent = text.length > 24 ? text.slice(0, 23) + "…" : text;
      var tip = document.createElementNS(SVGNS, "title");
      tip.textContent = text + ": " + b[1];
      var rect = document.createElementNS(SVGNS, "rect");
      rect.setAttribute("x", String(labelW)); rect.setAttribute("y", String(y));
      rect.setAttribute("height", String(h - 4));
      rect.setAttribute("width", String(Math.max(1, Math.round(barW * b[1] / max))));
      rect.setAttribute("data-label", text);
      rect.setAttribute("data-count", String(b[1]));
      rect.appendChild(tip);
      if (FIELD[name] && text !== "(other)") {
        rect.addEventListener("click", function () { setSearch(text); });
      }
      var count = document.createElementNS(SVGNS, "text");
      count.setAttribute("x", String(labelW + barW + 6)); count.setAttribute("y", String(y + 12));
      count.textContent = String(b[1]);
      svg.appendChild(label); svg.appendChild(rect); svg.appendChild(count);
    });
    box.appendChild(svg);
    return box;
  }
  var charts = document.getElementById("charts");
  ["status", "tech", "server", "tls_expiry", "dns_answers", "ports"].forEach(function (name) {
    var bars = s.charts[name];
    if (bars && bars.length) charts.appendChild(chart(name, bars));
  });
  if (s.errors && Object.keys(s.errors).length) {
    TITLES.errors = "Error kinds";
    charts.appendChild(chart("errors", Object.keys(s.errors).map(function (k) { return [k, s.errors[k]]; })));
  }

  // ---- table state ----
  var view = [];          // indexes of rows shown, in order
  var sortCol = -1, sortDir = 1, groupFilter = -1;
  var hay = null;         // lower-cased row text, built on the first search
  var search = document.getElementById("search");
  var kindSel = document.getElementById("kind-filter");
  var errSel = document.getElementById("error-filter");
  var clearGroup = document.getElementById("clear-group");
  Object.keys(s.kinds).forEach(function (k) {
    var o = el("option", null, k + " (" + s.kinds[k] + ")"); o.value = k; kindSel.appendChild(o);
  });

  function haystack() {
    if (hay) return hay;
    hay = new Array(rows.length);
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      hay[i] = (row[0] + "\u0001" + row[1] + "\u0001" + row[2] + "\u0001" + row[3] + "\u0001" + row[4] +
        "\u0001" + row[5] + "\u0001" + row[6] + "\u0001" + row[7] + "\u0001" + row[8]).toLowerCase();
    }
    return hay;
  }

  function applyFilters() {
    var q = search.value.trim().toLowerCase();
    var kind = kindSel.value, errs = errSel.value;
    var h = q ? haystack() : null;
    var out = [];
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      if (kind && row[0] !== kind) continue;
      if (errs === "ok" && row[C.error]) continue;
      if (errs === "err" && !row[C.error]) continue;
      if (groupFilter >= 0 && row[C.group] !== groupFilter) continue;
      if (h && h[i].indexOf(q) < 0) continue;
      out.push(i);
    }
    view = out;
    if (sortCol >= 0) sortView();
    document.getElementById("count").textContent = view.length + " of " + rows.length + " records";
    viewport.scrollTop = 0;
    render(true);
  }

  function sortView() {
    var c = sortCol, d = sortDir, num = NUMERIC[COLS[c]];
    view.sort(function (a, b) {
      var x = rows[a][c], y = rows[b][c];
      if (num) {
        // numbers in order; empty and non-numeric values (an rcode, a port state) last
        var nx = x === "" || x === null ? NaN : Number(x);
        var ny = y === "" || y === null ? NaN : Number(y);
        var bx = isNaN(nx), by = isNaN(ny);
        if (bx !== by) return bx ? 1 : -1;
        if (!bx && nx !== ny) return (nx < ny ? -1 : 1) * d;
        if (bx) {
          x = x === null ? "" : String(x); y = y === null ? "" : String(y);
          if (x !== y) return x < y ? -1 : 1;
        }
      } else {
        x = x === null ? "" : String(x); y = y === null ? "" : String(y);
        if (x !== y) return (x < y ? -1 : 1) * d;
      }
      return a - b;
    });
  }

  // ---- virtual table ----
  var thead = document.getElementById("thead");
  var viewport = document.getElementById("viewport");
  var spacer = document.getElementById("spacer");
  var box = document.getElementById("rowsbox");
  document.documentElement.style.setProperty("--cols", WIDTHS.join(" "));
  SHOWN.forEach(function (name) {
    var cell = el("div", null, name);
    cell.addEventListener("click", function () {
      var c = C[name];
      sortDir = sortCol === c ? -sortDir : 1;
      sortCol = c;
      Array.prototype.forEach.call(thead.children, function (n) { n.textContent = n.dataset.name; });
      cell.textContent = name + (sortDir > 0 ? " ▲" : " ▼");
      sortView();
      render(true);
    });
    cell.dataset.name = name;
    thead.appendChild(cell);
  });

  var lastFirst = -1;
  function render(force) {
    spacer.style.height = (view.length * ROW_H) + "px";
    var first = Math.max(0, Math.floor(viewport.scrollTop / ROW_H) - 5);
    if (!force && first === lastFirst) return;
    lastFirst = first;
    var count = Math.ceil(viewport.clientHeight / ROW_H) + 10;
    var last = Math.min(view.length, first + count);
    box.style.transform = "translateY(" + (first * ROW_H) + "px)";
    var frag = document.createDocumentFragment();
    for (var i = first; i < last; i++) {
      var row = rows[view[i]];
      var line = el("div", row[C.error] ? "row err" : "row");
      line.dataset.index = String(view[i]);
      for (var k = 0; k < SHOWN.length; k++) {
        var name = SHOWN[k], v = row[C[name]];
        var cell;
        if (name === "screenshot") {
          cell = el("div");
          if (v) { var img = el("img"); img.loading = "lazy"; img.src = v; img.alt = ""; cell.appendChild(img); }
        } else {
          cell = el("div", null, v === null ? "" : v);
          cell.title = v === null ? "" : String(v);
        }
        line.appendChild(cell);
      }
      frag.appendChild(line);
    }
    box.textContent = "";
    box.appendChild(frag);
  }
  viewport.addEventListener("scroll", function () { window.requestAnimationFrame(function () { render(false); }); });

  var timer = 0;
  search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(applyFilters, rows.length > 20000 ? 150 : 30);
  });
  kindSel.addEventListener("change", applyFilters);
  errSel.addEventListener("change", applyFilters);
  function setSearch(text) { search.value = text; applyFilters(); }
  function setGroup(id, title) {
    groupFilter = id;
    clearGroup.hidden = id < 0;
    clearGroup.textContent = "group: " + title + " ✕";
    applyFilters();
    document.getElementById("table-section").scrollIntoView();
  }
  clearGroup.addEventListener("click", function () { setGroup(-1, ""); });

  // ---- page groups ----
  var groupsBox = document.getElementById("groups");
  var shownGroups = meta.groups.slice(0, 200);
  if (!shownGroups.length) groupsBox.appendChild(el("div", "empty", "No web pages in these results."));
  shownGroups.forEach(function (g) {
    var gb = el("div", "group");
    gb.dataset.group = String(g.id);
    if (g.screenshot) { var img = el("img"); img.loading = "lazy"; img.src = g.screenshot; img.alt = ""; gb.appendChild(img); }
    gb.appendChild(el("div", "t", g.title || "(no title)"));
    var statuses = Object.keys(g.statuses).map(function (k) { return k + "×" + g.statuses[k]; }).join(" ");
    gb.appendChild(el("div", "c", g.count + " page" + (g.count === 1 ? "" : "s") + " · " + statuses));
    g.samples.forEach(function (u) { gb.appendChild(el("div", "u", u)); });
    var btn = el("button", null, "show in table");
    btn.addEventListener("click", function () { setGroup(g.id, g.title || "(no title)"); });
    gb.appendChild(btn);
    groupsBox.appendChild(gb);
  });
  if (meta.group_count > shownGroups.length) {
    groupsBox.appendChild(el("div", "empty", (meta.group_count - shownGroups.length) + " smaller groups not shown"));
  }

  applyFilters();
  setTimeout(haystack, 0);  // the search index, built once the first rows are on screen
  window.aioscoutReport = {
    ready: true, rows: rows.length,
    visible: function () { return view.length; },
    search: setSearch,
    shownRows: function () {
      return Array.prototype.map.call(box.children, function (n) { return rows[Number(n.dataset.index)]; });
    }
  };
})();
