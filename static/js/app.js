/*
 * app.js — small progressive enhancements; every page works without it.
 * Signup: tells whether the chosen address is free while the person types.
 */
(function () {
  'use strict';
  var input = document.querySelector('[data-check-slug]');
  if (!input) return;
  var status = document.getElementById('slug-status');
  var timer = null;
  input.addEventListener('input', function () {
    clearTimeout(timer);
    var slug = input.value.trim().toLowerCase();
    if (slug.length < 3) { status.textContent = ''; return; }
    timer = setTimeout(function () {
      fetch('/api/signup/check-slug?slug=' + encodeURIComponent(slug), {headers: {Accept: 'application/json'}})
        .then(function (r) { return r.json(); })
        .then(function (j) {
          if (input.value.trim().toLowerCase() !== slug) return;
          status.textContent = j.available ? 'Available' : 'Not available (' + (j.reason || 'taken').replace(/_/g, ' ') + ')';
          status.className = 'hint ' + (j.available ? 'ok' : 'bad');
        })
        .catch(function () { status.textContent = ''; });
    }, 250);
  });
})();
