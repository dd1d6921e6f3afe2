// The workspace console, improved when scripts run (the page works without):
// CodeMirror's SQL editor with the project's tables and columns for
// completion, Ctrl+Enter to run, a cancel button while a query runs, and
// the query history loading a past query into the editor.
(function () {
  'use strict';
  var form = document.getElementById('console');
  var area = document.getElementById('sql');
  if (!form || !area) return;
  var hints = {};
  var hintsEl = document.getElementById('schema-hints');
  if (hintsEl) {
    try { hints = JSON.parse(hintsEl.textContent); } catch (e) { hints = {}; }
  }
  var editor = null;
  if (window.CodeMirror) {
    editor = window.CodeMirror.fromTextArea(area, {
      mode: 'text/x-sql',
      lineNumbers: true,
      indentWithTabs: false,
      viewportMargin: Infinity,
      hintOptions: { tables: hints },
      extraKeys: {
        'Ctrl-Enter': function () { submit(); },
        'Cmd-Enter': function () { submit(); },
        'Tab': false,
        'Shift-Tab': false
      }
    });
    editor.getWrapperElement().setAttribute('aria-label', area.getAttribute('aria-label') || 'SQL');
  }
  function submit() {
    if (editor) editor.save();
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }
  var qid = document.getElementById('query-id');
  var cancel = document.getElementById('cancel');
  var status = document.getElementById('query-status');
  form.addEventListener('submit', function () {
    if (editor) editor.save();
    if (qid) {
      var r = new Uint8Array(8);
      window.crypto.getRandomValues(r);
      qid.value = 'q-' + Array.prototype.map.call(r, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
    }
    if (cancel) cancel.hidden = false;
    if (status) status.textContent = status.getAttribute('data-running') || 'Running…';
  });
  if (cancel) {
    cancel.addEventListener('click', function () {
      if (!qid || !qid.value) return;
      var body = new URLSearchParams();
      body.set('csrf', form.querySelector('input[name=csrf]').value);
      fetch(form.getAttribute('data-cancel').replace('QUERY', encodeURIComponent(qid.value)), {
        method: 'POST', body: body, credentials: 'same-origin'
      }).then(function () {
        if (status) status.textContent = status.getAttribute('data-cancelling') || 'Cancelling…';
      });
    });
  }
  document.querySelectorAll('a[data-sql]').forEach(function (a) {
    a.addEventListener('click', function (e) {
      e.preventDefault();
      var sql = a.getAttribute('data-sql');
      if (editor) { editor.setValue(sql); editor.focus(); } else { area.value = sql; area.focus(); }
      window.scrollTo(0, form.offsetTop);
    });
  });
})();
