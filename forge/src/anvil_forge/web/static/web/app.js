/* Anvil FORGE web UI: the little JavaScript the pages need on top of htmx.
 * Command palette (Ctrl/Cmd+K), menus that close on Escape, and the prompt editor's helpers
 * (remove a parameter row, unsaved-changes guard, Ctrl+S, cursor position, go to an error). The chat
 * messages, the model configuration and the set settings' rows are editor.js's. */
(function () {
  "use strict";

  // --- command palette -----------------------------------------------------------------
  const palette = document.getElementById("palette");
  const input = document.getElementById("palette-input");
  const list = document.getElementById("palette-results");
  let results = [];
  let active = -1;
  let timer = null;
  let lastFocus = null;
  let seq = 0;

  function render() {
    list.textContent = "";
    const empty = document.getElementById("palette-empty");
    list.hidden = !results.length;
    empty.textContent = results.length ? "" : (input.value.trim() ? "No match." : "Type to search.");
    if (!results.length) {
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      return;
    }
    results.forEach(function (r, i) {
      const li = document.createElement("li");
      li.id = "palette-opt-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", i === active ? "true" : "false");
      li.dataset.url = r.url;
      const kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = r.kind_label;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = r.name + (r.status ? "  [" + r.status.toUpperCase() + "]" : "");
      const path = document.createElement("span");
      path.className = "path";
      path.textContent = r.path;
      li.append(kind, name, path);
      li.addEventListener("mousedown", function (e) { e.preventDefault(); go(i); });
      list.appendChild(li);
    });
    input.setAttribute("aria-expanded", "true");
    if (active >= 0) {
      input.setAttribute("aria-activedescendant", "palette-opt-" + active);
      const el = document.getElementById("palette-opt-" + active);
      if (el) el.scrollIntoView({ block: "nearest" });
    }
  }

  function search() {
    const mine = ++seq;
    const url = input.dataset.url + "?q=" + encodeURIComponent(input.value);
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { results: [] }; })
      .then(function (data) {
        if (mine !== seq) return;  // a newer query is on its way
        results = data.results || [];
        active = results.length ? 0 : -1;
        render();
        palette.dataset.ready = "true";
      })
      .catch(function () { results = []; render(); });
  }

  function go(i) {
    const r = results[i];
    if (r) window.location.assign(r.url);
  }

  function openPalette() {
    if (!palette || palette.open) return;
    lastFocus = document.activeElement;
    input.value = "";
    palette.dataset.ready = "false";
    palette.showModal();
    input.focus();
    search();
  }

  if (palette) {
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(search, 120);
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        if (!results.length) return;
        active = (active + (e.key === "ArrowDown" ? 1 : -1) + results.length) % results.length;
        render();
      } else if (e.key === "Enter") {
        e.preventDefault();
        if (active >= 0) go(active);
      }
    });
    palette.addEventListener("close", function () {
      if (lastFocus && document.contains(lastFocus)) lastFocus.focus();
    });
    palette.addEventListener("click", function (e) {
      if (e.target === palette) palette.close();  // a click on the backdrop
    });
    document.addEventListener("click", function (e) {
      if (e.target.closest("[data-palette-open]")) { e.preventDefault(); openPalette(); }
    });
  }

  document.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && !e.altKey && (e.key === "k" || e.key === "K")) {
      if (palette) { e.preventDefault(); palette.open ? palette.close() : openPalette(); }
    }
    if (e.key === "Escape") {
      document.querySelectorAll("details[data-menu][open]").forEach(function (d) {
        d.removeAttribute("open");
        const s = d.querySelector("summary");
        if (s && d.contains(document.activeElement)) s.focus();
      });
    }
  });

  // menus close when focus or a click goes elsewhere
  document.addEventListener("click", function (e) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (d) {
      if (!d.contains(e.target)) d.removeAttribute("open");
    });
  });
  document.addEventListener("focusin", function (e) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (d) {
      if (!d.contains(e.target)) d.removeAttribute("open");
    });
  });

  // --- prompt editor ---------------------------------------------------------------------
  const editorForm = document.querySelector("form[data-editor]");
  if (!editorForm) return;
  const textarea = editorForm.querySelector("textarea.editor");
  const dirtyFlag = editorForm.querySelector("[data-dirty-flag]");
  const cursorPos = editorForm.querySelector("[data-cursor-pos]");
  let dirty = false;

  function markDirty() {
    if (!editorForm.hasAttribute("data-dirty-guard")) return;
    dirty = true;
    if (dirtyFlag) dirtyFlag.hidden = false;
  }
  editorForm.addEventListener("input", markDirty);
  editorForm.addEventListener("change", markDirty);
  editorForm.addEventListener("submit", function () { dirty = false; });
  window.addEventListener("beforeunload", function (e) {
    if (dirty) { e.preventDefault(); e.returnValue = ""; }
  });

  function paramsChanged() {
    markDirty();
    document.body.dispatchEvent(new CustomEvent("paramsChanged", { bubbles: true }));
  }

  editorForm.addEventListener("click", function (e) {
    const button = e.target.closest("[data-remove-row]");
    if (!button) return;
    const row = button.closest("[data-param-row]");
    const next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    const target = next ? next.querySelector("input") : editorForm.querySelector("[data-add-param]");
    if (target) target.focus();
    paramsChanged();
  });

  document.body.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail && e.detail.target && e.detail.target.id === "param-rows") markDirty();
  });

  document.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && (e.key === "s" || e.key === "S") && editorForm.hasAttribute("data-dirty-guard")) {
      e.preventDefault();
      editorForm.requestSubmit();
    }
  });

  function showCursor() {
    if (!textarea || !cursorPos) return;
    const before = textarea.value.slice(0, textarea.selectionStart);
    const lines = before.split("\n");
    cursorPos.textContent = "Ln " + lines.length + ", Col " + (lines[lines.length - 1].length + 1);
  }
  if (textarea) {
    ["keyup", "click", "focus", "input"].forEach(function (ev) { textarea.addEventListener(ev, showCursor); });
  }

  // "Go to line L, column C" in the syntax check: in the template, or in the message data-goto-target names
  document.addEventListener("click", function (e) {
    const button = e.target.closest("[data-goto-line]");
    if (!button) return;
    const target = button.dataset.gotoTarget ? document.getElementById(button.dataset.gotoTarget) : textarea;
    if (!target) return;
    const line = parseInt(button.dataset.gotoLine, 10) || 1;
    const col = parseInt(button.dataset.gotoCol, 10) || 1;
    const lines = target.value.split("\n");
    let offset = 0;
    for (let i = 0; i < Math.min(line - 1, lines.length); i++) offset += lines[i].length + 1;
    offset += Math.max(0, Math.min(col - 1, (lines[line - 1] || "").length));
    target.focus();
    target.setSelectionRange(offset, offset);
    if (target === textarea) showCursor();
  });

  // sample values grow with their content
  document.addEventListener("input", function (e) {
    const t = e.target;
    if (t.matches && t.matches("textarea.autogrow")) {
      t.style.height = "auto";
      t.style.height = Math.min(t.scrollHeight + 2, 320) + "px";
    }
  });
})();

// Copy buttons: <button data-copy="#id"> copies that element's text.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (source && navigator.clipboard) {
    navigator.clipboard.writeText(source.textContent.trim()).then(() => { button.textContent = "Copied"; });
  }
});

// Forms that undo or remove something ask first: <form data-confirm="Roll back production?">.
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
