// The request form, improved: a running count of the variables asked for,
// and (on a draft) autosave with the server's messages next to each field.
// The form works without this script.
(function () {
  'use strict';
  var form = document.getElementById('request-form');
  if (!form) return;
  var count = document.getElementById('scope-count');
  function recount() {
    var boxes = form.querySelectorAll('input[name=cols]:checked');
    var tables = {};
    boxes.forEach(function (b) { tables[b.value.split('|').slice(0, 2).join('.')] = true; });
    if (count) {
      var fr = document.documentElement.lang === 'fr';
      var n = boxes.length, t = Object.keys(tables).length;
      count.textContent = fr ? '(' + n + ' variable(s) dans ' + t + ' table(s))'
                             : '(' + n + ' variable(s) in ' + t + ' table(s))';
    }
  }
  form.addEventListener('change', recount);
  recount();

  var url = form.getAttribute('data-autosave');
  if (!url) return;
  var status = document.getElementById('autosave-status');
  var timer = null;
  function show(problems) {
    form.querySelectorAll('.field-error').forEach(function (e) { e.hidden = true; e.textContent = ''; });
    problems.forEach(function (p) {
      var e = document.getElementById('err-' + p.field);
      if (e) { e.hidden = false; e.textContent = (e.textContent ? e.textContent + ' ' : '') + p.message; }
    });
  }
  function save() {
    var body = new URLSearchParams(new FormData(form));
    fetch(url, { method: 'POST', body: body, headers: { 'X-Autosave': '1' }, credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (j) {
        show(j.problems || []);
        if (status) status.textContent = (status.getAttribute('data-saved') || 'Saved') + ' ' + new Date().toLocaleTimeString();
      })
      .catch(function () { if (status) status.textContent = status.getAttribute('data-failed') || 'Not saved'; });
  }
  form.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(save, 800); });
  form.addEventListener('change', function () { clearTimeout(timer); timer = setTimeout(save, 300); });
})();
