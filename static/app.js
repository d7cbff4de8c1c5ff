// The console's behaviour, in one static file so the Content-Security-Policy needs no
// 'unsafe-inline': handlers are attached by data attributes, never written into the markup.
(function () {
  'use strict';
  // A post's confirmation arrives as ?notice=…; shown once, so drop it from the address bar
  // (a reload or a bookmark does not repeat it).
  if (window.history && window.history.replaceState && /[?&]notice=/.test(window.location.search)) {
    var params = new URLSearchParams(window.location.search);
    params.delete('notice');
    var q = params.toString();
    window.history.replaceState(null, '', window.location.pathname + (q ? '?' + q : '') + window.location.hash);
  }
  function closeModal() {
    var m = document.getElementById('modal');
    if (m) m.innerHTML = '';
  }
  document.addEventListener('click', function (e) {
    var copy = e.target.closest('[data-copy]');
    if (copy) {
      var text = copy.getAttribute('data-copy');
      if (navigator.clipboard) { navigator.clipboard.writeText(text); }
      copy.textContent = 'Copied';
      setTimeout(function () { copy.textContent = 'Copy'; }, 1500);
      return;
    }
    // "+ Add Path" and "Use it" may be submit buttons (the form does it without JavaScript).
    var add = e.target.closest('[data-add-path]');
    if (add) {
      e.preventDefault();
      var list = document.getElementById(add.getAttribute('data-add-path'));
      var input = document.createElement('input');
      input.name = 'route_paths'; input.type = 'text'; input.placeholder = '/path';
      input.setAttribute('aria-label', 'Path');
      list.appendChild(input); input.focus();
      return;
    }
    var fill = e.target.closest('[data-fill]');
    if (fill) {
      e.preventDefault();
      var field = document.getElementById(fill.getAttribute('data-fill'));
      if (field) { field.value = fill.getAttribute('data-value'); field.focus(); }
      return;
    }
    if (e.target.closest('[data-discard-draft]')) {
      var f = e.target.closest('form[data-draft]');
      if (f) { forgetDraft(f); f.reset(); e.target.closest('[data-draft-note]').hidden = true; }
      return;
    }
    if (e.target.closest('[data-close-modal]')) {
      e.preventDefault();
      document.querySelectorAll('#modal form[data-draft]').forEach(forgetDraft);
      closeModal();
      return;
    }
    if (e.target.hasAttribute && e.target.hasAttribute('data-modal-backdrop')) { closeModal(); }
  });
  // What is typed in a dialog form marked data-draft is kept in sessionStorage (per dialog) as
  // it is typed, so leaving with Back (or a reload) loses nothing: the next time the dialog
  // opens it is filled in again, with a note saying so. Cancel and Create forget it.
  function draftKey(form) { return 'gatehouse.draft:' + form.getAttribute('data-draft'); }
  function draftable(el) {
    return el.name && el.name !== 'csrf_token' && el.name !== 'op' && el.type !== 'submit' && el.type !== 'button';
  }
  function saveDraft(form) {
    var data = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!draftable(el) || ((el.type === 'radio' || el.type === 'checkbox') && !el.checked)) return;
      (data[el.name] = data[el.name] || []).push(el.value);
    });
    try { sessionStorage.setItem(draftKey(form), JSON.stringify(data)); } catch (err) { /* storage off: nothing kept */ }
  }
  function forgetDraft(form) {
    try { sessionStorage.removeItem(draftKey(form)); } catch (err) { /* nothing kept */ }
  }
  function restoreDraft(form) {
    var data;
    try { data = JSON.parse(sessionStorage.getItem(draftKey(form)) || 'null'); } catch (err) { return; }
    if (!data) return;
    var seen = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      var values = draftable(el) && data[el.name];
      if (!values) return;
      if (el.type === 'radio' || el.type === 'checkbox') { el.checked = values.indexOf(el.value) >= 0; return; }
      var i = seen[el.name] || 0;
      seen[el.name] = i + 1;
      if (i < values.length) el.value = values[i];
    });
    var note = form.querySelector('[data-draft-note]');
    if (note) note.hidden = false;
  }
  document.addEventListener('input', function (e) {
    var form = e.target.form;
    if (form && form.hasAttribute('data-draft')) saveDraft(form);
  });
  // A dialog freshly opened (a GET) gets its draft back; Create (the step-2 form itself
  // posting) hands the values to the server, so the draft is done.
  document.addEventListener('htmx:afterSwap', function (e) {
    if (!e.target || e.target.id !== 'modal' || !e.detail.requestConfig || e.detail.requestConfig.verb !== 'get') return;
    var form = e.target.querySelector('form[data-draft]');
    if (form) restoreDraft(form);
  });
  document.addEventListener('htmx:beforeRequest', function (e) {
    var elt = e.detail && e.detail.elt;
    if (elt && elt.id === 'impl-step2') forgetDraft(elt);
  });
  document.addEventListener('change', function (e) {
    if (e.target.matches && e.target.matches('[data-autosubmit]') && e.target.form) {
      e.target.form.submit();
    }
  });
  function openMenus() { return document.querySelectorAll('details.menu[open]'); }
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape') {
      closeModal();
      openMenus().forEach(function (m) { m.open = false; var s = m.querySelector('summary'); if (s) s.focus(); });
      return;
    }
    // Focus stays inside an open dialog until it closes.
    if (e.key === 'Tab') {
      var dialog = document.querySelector('#modal [role=dialog]');
      if (!dialog) return;
      var f = Array.prototype.filter.call(
        dialog.querySelectorAll('a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select, textarea, summary'),
        function (el) { return el.getAttribute('tabindex') !== '-1' && el.getClientRects().length > 0; });
      if (!f.length) return;
      var first = f[0], last = f[f.length - 1];
      if (!dialog.contains(document.activeElement)) { e.preventDefault(); first.focus(); }
      else if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
      else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
    }
  });
  // An actions menu closes when the click lands outside it.
  document.addEventListener('click', function (e) {
    openMenus().forEach(function (m) { if (!m.contains(e.target)) m.open = false; });
  }, true);
  // A dialog loaded into #modal takes the focus: its first field, else its first control.
  document.addEventListener('htmx:afterSwap', function (e) {
    if (!e.target || e.target.id !== 'modal') return;
    var dialog = e.target.querySelector('[role=dialog]');
    if (!dialog) return;
    var target = dialog.querySelector('[aria-invalid=true]') ||
      dialog.querySelector('input:not([type=hidden]):not([type=radio]), select, textarea') ||
      dialog.querySelector('button:not([tabindex="-1"])');
    if (target) target.focus();
  });
  // Charts label time in UTC; inside a data-tz="local" panel the browser rewrites the labels.
  function localizeTimes(root) {
    root.querySelectorAll('[data-tz=local] [data-ts]').forEach(function (el) {
      var d = new Date(Number(el.getAttribute('data-ts'))), f = el.getAttribute('data-fmt');
      var pad = function (n) { return String(n).padStart(2, '0'); };
      var date = pad(d.getMonth() + 1) + '-' + pad(d.getDate()), time = pad(d.getHours()) + ':' + pad(d.getMinutes());
      el.textContent = f === 'date' ? d.getFullYear() + '-' + date : f === 'datetime' ? date + ' ' + time : time;
    });
  }
  document.addEventListener('DOMContentLoaded', function () { localizeTimes(document); });
  document.addEventListener('htmx:afterSwap', function () { localizeTimes(document); });
})();
