// hullscan report: sorting, filtering and paging of the tables, without any network access.
// A table shows at most data-page matching rows at once (the browser lays out only those),
// with a button for more.
"use strict";
(function () {
  function cellKey(row, col, numeric) {
    var cell = row.cells[col];
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
    return numeric ? parseFloat(raw) || 0 : raw.trim().toLowerCase();
  }

  function formFor(table) {
    return document.querySelector('form[data-table="' + table.id + '"]');
  }

  function sortBy(table, th) {
    var col = th.cellIndex;
    var numeric = th.querySelector("button").getAttribute("data-type") === "num";
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
    var body = table.tBodies[0];
    var keyed = Array.prototype.map.call(body.rows, function (row, i) {
      return [cellKey(row, col, numeric), i, row];
    });
    var sign = dir === "ascending" ? 1 : -1;
    keyed.sort(function (a, b) {
      if (a[0] < b[0]) return -sign;
      if (a[0] > b[0]) return sign;
      return a[1] - b[1];
    });
    var frag = document.createDocumentFragment();
    keyed.forEach(function (k) { frag.appendChild(k[2]); });
    body.appendChild(frag);
    var form = formFor(table);
    if (form) applyFilters(form); else show(table, Array.from(body.rows), page(table));
  }

  function page(table) {
    return parseInt(table.getAttribute("data-page"), 10) || Infinity;
  }

  // show the first `limit` of the matching rows, hide every other row
  function show(table, matched, limit) {
    var rows = table.tBodies[0].rows;
    var visible = new Set(matched.slice(0, limit));
    for (var i = 0; i < rows.length; i++) {
      var hide = !visible.has(rows[i]);
      if (rows[i].hidden !== hide) rows[i].hidden = hide;
    }
    table._matched = matched;
    table._limit = limit;
    var count = document.getElementById(table.id + "-count");
    if (count) {
      var noun = count.getAttribute("data-noun");
      count.textContent = matched.length + " of " + rows.length + " " + noun +
        (matched.length > limit ? "; the first " + limit + " shown" : "");
    }
    var more = document.querySelector('button[data-more="' + table.id + '"]');
    if (more) more.hidden = matched.length <= limit;
  }

  function applyFilters(form) {
    var table = document.getElementById(form.getAttribute("data-table"));
    var rules = [];
    form.querySelectorAll("[data-key]").forEach(function (c) {
      var value = c.value.trim().toLowerCase();
      if (value) rules.push([c.getAttribute("data-key"), value, c.getAttribute("data-match")]);
    });
    var matched = Array.prototype.filter.call(table.tBodies[0].rows, function (row) {
      return rules.every(function (r) {
        if (r[0] === "text") {
          if (row._text === undefined) row._text = row.textContent.toLowerCase();
          return row._text.indexOf(r[1]) >= 0;
        }
        var have = (row.getAttribute("data-" + r[0]) || "").toLowerCase();
        return r[2] === "contains" ? have.indexOf(r[1]) >= 0 : have === r[1];
      });
    });
    show(table, matched, page(table));
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th button").forEach(function (button) {
      button.addEventListener("click", function () { sortBy(table, button.parentElement); });
    });
  });
  document.querySelectorAll("form.filters").forEach(function (form) {
    var run = function () { applyFilters(form); };
    form.addEventListener("input", run);
    form.addEventListener("change", run);
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    form.querySelectorAll('button[type="reset"]').forEach(function (button) {
      button.addEventListener("click", function (e) { e.preventDefault(); form.reset(); run(); });
    });
  });
  document.querySelectorAll("button[data-more]").forEach(function (button) {
    button.addEventListener("click", function () {
      var table = document.getElementById(button.getAttribute("data-more"));
      var matched = table._matched || Array.from(table.tBodies[0].rows);
      show(table, matched, (table._limit || page(table)) + page(table));
    });
  });
  document.querySelectorAll("[data-layer-filter]").forEach(function (button) {
    button.addEventListener("click", function () {
      var form = document.querySelector('form[data-table="findings"]');
      var select = form.querySelector('[data-key="layer"]');
      select.value = button.getAttribute("data-layer-filter");
      applyFilters(form);
      document.getElementById("findings-h").scrollIntoView();
      select.focus();
    });
  });
})();
