/*
 * admin.js — the platform admin pages, no framework; every page works
 * without it. It does two things:
 *   - forms with data-confirm (suspend, reset a password, deactivate) ask
 *     before they are sent;
 *   - the dashboard's #bookings-chart gets an SVG bar chart of bookings per
 *     day, drawn from GET /admin/dashboard as JSON (the page's own figures).
 * The CSP allows no inline script or style: the chart is SVG elements with
 * presentation attributes, built here.
 */
(function () {
  'use strict';

  var SVG = 'http://www.w3.org/2000/svg';

  /* ---- confirmations ------------------------------------------------------ */

  Array.prototype.forEach.call(document.querySelectorAll('form[data-confirm]'), function (form) {
    form.addEventListener('submit', function (ev) {
      if (!window.confirm(form.getAttribute('data-confirm'))) ev.preventDefault();
    });
  });

  /* ---- the chart ---------------------------------------------------------- */

  var figure = document.getElementById('bookings-chart');
  if (!figure) return;

  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // A step for the y axis that gives at most ~5 gridlines: 1, 2, 5, 10, 20, 50...
  function niceStep(max) {
    var raw = Math.max(1, max / 5);
    var pow = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * pow >= raw) return steps[i] * pow;
    return 10 * pow;
  }

  function draw(days) {
    var W = 720, H = 240, left = 40, right = 10, top = 10, bottom = 40;
    var plotW = W - left - right, plotH = H - top - bottom;
    var max = 0;
    days.forEach(function (d) { if (d.count > max) max = d.count; });
    var step = niceStep(max);
    var yMax = Math.max(step, Math.ceil(max / step) * step);
    var total = days.reduce(function (s, d) { return s + d.count; }, 0);

    var root = svg('svg', {
      viewBox: '0 0 ' + W + ' ' + H, width: '100%', role: 'img',
      'aria-label': total + ' bookings in the last ' + days.length + ' days'
    });
    root.appendChild(svg('title', {}, 'Bookings per day'));
    for (var y = 0; y <= yMax; y += step) {
      var py = top + plotH - (y / yMax) * plotH;
      root.appendChild(svg('line', { x1: left, x2: W - right, y1: py, y2: py,
        stroke: '#d0d4dc', 'stroke-width': 1 }));
      root.appendChild(svg('text', { x: left - 6, y: py + 4, 'text-anchor': 'end',
        'font-size': 11, fill: '#555' }, String(y)));
    }
    var slot = plotW / Math.max(1, days.length);
    days.forEach(function (d, i) {
      var h = (d.count / yMax) * plotH;
      var bar = svg('rect', { x: left + i * slot + slot * 0.15, y: top + plotH - h,
        width: slot * 0.7, height: Math.max(h, 0), fill: '#3b5bdb' });
      bar.appendChild(svg('title', {}, d.date + ': ' + d.count));
      root.appendChild(bar);
      if (i % 5 === 0 || i === days.length - 1) {
        root.appendChild(svg('text', { x: left + i * slot + slot / 2, y: H - bottom + 16,
          'text-anchor': 'middle', 'font-size': 11, fill: '#555' }, d.date.slice(5)));
      }
    });
    figure.textContent = '';
    figure.appendChild(root);
  }

  window.studiod.api('GET', '/admin/dashboard')
    .then(function (r) {
      var data = r.ok ? r.data : null;
      if (data && Array.isArray(data.bookings_per_day)) draw(data.bookings_per_day);
    })
    .catch(function () { /* the table below the chart still has the numbers */ });
})();
