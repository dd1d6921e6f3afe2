// The workspace console, improved when scripts run (the page works without):
// CodeMirror's SQL editor with the project's tables and columns for
// completion, Ctrl+Enter to run, the query history loading a past query into
// the editor, and the query sent in the background so that the page stays
// live while it runs: the cancel button can stop it, and the answer (the
// same page the server renders for the form) replaces the page's content.
(function () {
  'use strict';
  function randomId() {
    var r = new Uint8Array(8);
    window.crypto.getRandomValues(r);
    return 'q-' + Array.prototype.map.call(r, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }

  function init() {
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
      // The editor types into a hidden textarea of its own: named like the original.
      editor.getInputField().setAttribute('aria-label', area.getAttribute('aria-label') || 'SQL');
    }
    var qid = document.getElementById('query-id');
    var cancel = document.getElementById('cancel');
    var run = document.getElementById('run');
    var status = document.getElementById('query-status');
    var running = false;

    function submit() {
      if (editor) editor.save();
      if (form.requestSubmit) form.requestSubmit(); else send();
    }

    // The server's answer is a whole page: its <main> replaces ours.
    function show(html) {
      var doc = new DOMParser().parseFromString(html, 'text/html');
      var next = doc.querySelector('main');
      var main = document.querySelector('main');
      if (!next || !main) { document.open(); document.write(html); document.close(); return; }
      main.innerHTML = next.innerHTML;
      init();
      var target = document.getElementById('query-error') || document.getElementById('result-count');
      if (target) {
        target.setAttribute('tabindex', '-1');
        target.focus();
      }
    }

    function send() {
      if (running) return;
      if (editor) editor.save();
      if (qid) qid.value = randomId();
      var body = new URLSearchParams(new FormData(form));
      running = true;
      if (cancel) cancel.hidden = false;
      if (run) run.disabled = true;
      if (status) status.textContent = status.getAttribute('data-running') || 'Running…';
      fetch(form.getAttribute('action'), {
        method: 'POST',
        body: body,
        credentials: 'same-origin',
        headers: { 'Accept': 'text/html' }
      }).then(function (r) {
        return r.text();
      }).then(show, function () {
        // The network failed: the ordinary form post says what happened.
        running = false;
        form.submit();
      });
    }

    form.addEventListener('submit', function (e) {
      e.preventDefault();
      send();
    });
    if (cancel) {
      cancel.addEventListener('click', function () {
        if (!running || !qid || !qid.value) return;
        var body = new URLSearchParams();
        body.set('csrf', form.querySelector('input[name=csrf]').value);
        if (status) status.textContent = status.getAttribute('data-cancelling') || 'Cancelling…';
        fetch(form.getAttribute('data-cancel').replace('QUERY', encodeURIComponent(qid.value)), {
          method: 'POST', body: body, credentials: 'same-origin'
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
  }

  init();
})();
