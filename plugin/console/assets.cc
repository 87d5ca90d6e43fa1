#include "plugin/console/assets.h"

namespace hijackguard::console {
namespace {

// Colours keep a contrast of at least 4.5:1 with their background (WCAG AA),
// which the browser test checks with axe-core.
constexpr std::string_view kCss = R"css(
:root { --ink: #1b1f24; --muted: #4a5360; --line: #c9ced6; --bg: #ffffff;
  --band: #f3f5f8; --link: #0b5cad; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--ink);
  background: var(--bg); }
a { color: var(--link); }
code, pre { font-family: ui-monospace, monospace; font-size: 13px; }
pre { background: var(--band); padding: 8px; overflow-x: auto; }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: 16px;
  padding: 8px 16px; background: #14213d; color: #ffffff; }
header.top a { color: #ffffff; }
header.top .brand { font-weight: 700; text-decoration: none; }
header.top nav ul { display: flex; gap: 14px; list-style: none; margin: 0;
  padding: 0; }
header.top nav a[aria-current="page"] { font-weight: 700;
  text-decoration: underline; }
header.top .who { margin-left: auto; display: flex; gap: 10px;
  align-items: center; }
header.top .who form { margin: 0; }
main { padding: 8px 16px 32px; max-width: 1280px; }
h1 { font-size: 22px; }
h2 { font-size: 18px; margin-top: 28px; }
h3 { font-size: 16px; }
table.data { border-collapse: collapse; margin: 8px 0; }
table.data th, table.data td { border-bottom: 1px solid var(--line);
  padding: 4px 8px; text-align: left; vertical-align: top; }
table.data thead th { background: var(--band); }
table.data caption { text-align: left; font-weight: 600; }
.num { text-align: right; }
table.data td code { overflow-wrap: anywhere; word-break: break-all; }
table.data td.num, table.data th.num { text-align: right; }
table.data td code { overflow-wrap: anywhere; word-break: break-all; }
.visually-hidden { position: absolute; width: 1px; height: 1px;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
dl.figures { display: flex; flex-wrap: wrap; gap: 12px; }
dl.figures div { border: 1px solid var(--line); padding: 8px 12px;
  min-width: 150px; }
dl.figures dt { color: var(--muted); font-size: 13px; }
dl.figures dd { margin: 0; font-size: 22px; font-weight: 700; }
dl.facts { display: grid; grid-template-columns: max-content 1fr;
  gap: 4px 16px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.badge { display: inline-block; padding: 0 6px; border-radius: 3px;
  font-size: 12px; font-weight: 700; border: 1px solid currentColor; }
.action-allow, .level-low { color: #1e6b34; }
.action-warn, .level-elevated { color: #8a5300; }
.action-quarantine, .level-high { color: #b3261e; }
.action-block, .level-critical { color: #7a0f5a; }
form.filters { display: flex; flex-wrap: wrap; gap: 10px;
  align-items: end; margin: 8px 0; }
form.filters label { display: flex; flex-direction: column; font-size: 13px;
  color: var(--muted); }
input, select, button, textarea { font: inherit; }
button { padding: 3px 10px; }
.error { color: #b3261e; font-weight: 600; }
figure.chart { margin: 12px 0; }
figure.chart figcaption { font-weight: 600; margin-bottom: 4px; }
svg text { font: 13px system-ui, sans-serif; fill: var(--ink); }
svg rect.bar { fill: #2f5d9b; }
svg rect.bar.other { fill: #5f6b7a; }
svg rect.level-low { fill: #2e7d46; }
svg rect.level-elevated { fill: #c07a00; }
svg rect.level-high { fill: #c0392b; }
svg rect.level-critical { fill: #7a0f5a; }
svg rect.track { fill: #e7eaef; }
svg rect.seg-0 { fill: #c0392b; } svg rect.seg-1 { fill: #2f5d9b; }
svg rect.seg-2 { fill: #c07a00; } svg rect.seg-3 { fill: #2e7d46; }
svg rect.seg-4 { fill: #7a0f5a; } svg rect.seg-5 { fill: #5f6b7a; }
th button.sort { font: inherit; font-weight: 700; background: none;
  border: 0; padding: 0; cursor: pointer; color: var(--ink); }
nav.pages { margin: 8px 0; }
.signin { max-width: 420px; }
.signin label { display: block; margin: 8px 0 4px; }
.signin input { width: 100%; }
)css";

// Sorting of the current page's rows by a column (the server sorts the list
// by score; this only reorders what is shown), and the alerts page's live
// feed.
constexpr std::string_view kJs = R"js('use strict';
(function () {
  function cellValue(row, index) {
    const cell = row.cells[index];
    if (!cell) return '';
    const key = cell.getAttribute('data-sort');
    if (key !== null) return Number(key);
    const text = cell.textContent.trim();
    const number = Number(text);
    return text !== '' && !Number.isNaN(number) ? number : text.toLowerCase();
  }
  function sortBy(table, index, button) {
    const body = table.tBodies[0];
    const ascending =
        button.parentElement.getAttribute('aria-sort') !== 'ascending';
    const rows = Array.from(body.rows);
    rows.sort(function (a, b) {
      const x = cellValue(a, index);
      const y = cellValue(b, index);
      const order = x < y ? -1 : x > y ? 1 : 0;
      return ascending ? order : -order;
    });
    for (const th of table.tHead.rows[0].cells) th.removeAttribute('aria-sort');
    button.parentElement.setAttribute('aria-sort',
        ascending ? 'ascending' : 'descending');
    for (const row of rows) body.appendChild(row);
  }
  function makeSortable(table) {
    if (!table.tHead || table.tBodies.length === 0) return;
    Array.from(table.tHead.rows[0].cells).forEach(function (th, index) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'sort';
      button.textContent = th.textContent;
      button.addEventListener('click', function () {
        sortBy(table, index, button);
      });
      th.textContent = '';
      th.appendChild(button);
    });
  }
  // The alerts page's live feed (Server-Sent Events): each alert becomes a
  // row at the top of the table, built with text nodes only.
  function cell(row, content, className) {
    const td = row.insertCell();
    if (className) td.className = className;
    if (typeof content === 'string') {
      td.textContent = content;
    } else {
      for (const node of content) td.appendChild(node);
    }
    return td;
  }
  function badge(action) {
    const span = document.createElement('span');
    span.className = 'badge action-' + String(action).toLowerCase();
    span.textContent = action;
    return span;
  }
  function alertRow(body, a) {
    const row = body.insertRow(0);
    const time = document.createElement('time');
    time.dateTime = a.at;
    time.textContent = a.at_text;
    cell(row, [time]);
    cell(row, a.tenant);
    const link = document.createElement('a');
    link.href = a.device_url;
    const code = document.createElement('code');
    code.textContent = a.device;
    link.appendChild(code);
    cell(row, [link]);
    cell(row, a.user);
    cell(row, [badge(a.old), document.createTextNode(' \u2192 '),
               badge(a.new)]);
    cell(row, [badge(a.enforced)]);
    cell(row, a.mode);
    cell(row, a.score, 'num');
    cell(row, a.reasons);
    cell(row, a.trigger);
    while (body.rows.length > 500) body.deleteRow(body.rows.length - 1);
  }
  function liveFeed(status) {
    const table = document.getElementById('live-alerts');
    const url = status.getAttribute('data-stream');
    if (!table || !url) return;
    if (typeof EventSource === 'undefined') {
      status.textContent = 'This browser cannot show the live feed: reload ' +
          'the page to see new alerts.';
      return;
    }
    const body = table.tBodies[0];
    const source = new EventSource(url);
    status.textContent = 'Connecting to the live feed\u2026';
    source.addEventListener('open', function () {
      status.textContent = 'Live: new alerts appear at the top.';
    });
    source.addEventListener('alert', function (e) {
      let a;
      try {
        a = JSON.parse(e.data);
      } catch (err) {
        return;
      }
      alertRow(body, a);
      const none = document.getElementById('no-alerts');
      if (none) none.remove();
    });
    source.addEventListener('missed', function () {
      status.textContent = 'Live, but some alerts went by unseen (the ' +
          'feed fell behind): reload to see the newest kept.';
    });
    source.addEventListener('end', function (e) {
      source.close();
      let why = '';
      try {
        why = JSON.parse(e.data);
      } catch (err) {
        why = '';
      }
      status.textContent = 'The live feed ended: ' + why +
          '. Sign in again to follow new alerts.';
    });
    source.addEventListener('error', function () {
      status.textContent = source.readyState === EventSource.CLOSED
          ? 'The live feed is not available now (too many viewers, or the ' +
            'session ended): reload the page to try again.'
          : 'The live feed was cut; reconnecting\u2026';
    });
  }
  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('table.sortable').forEach(makeSortable);
    const status = document.getElementById('live-status');
    if (status) liveFeed(status);
  });
})();
)js";

}  // namespace

std::optional<Asset> FindAsset(std::string_view name) {
  if (name == "console.css") return Asset{"text/css; charset=utf-8", kCss};
  if (name == "console.js") {
    return Asset{"text/javascript; charset=utf-8", kJs};
  }
  return std::nullopt;
}

}  // namespace hijackguard::console
