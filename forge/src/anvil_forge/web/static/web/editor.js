/* Anvil FORGE web UI: the prompt editor's chat messages and the rows of the set settings, on top of htmx.
 *
 * - chat messages: remove a row; reorder with the Move up / Move down buttons, Alt+ArrowUp / Alt+ArrowDown
 *   anywhere in a row (the focus stays where it is), or by dragging a row's handle (HTML5 drag and drop).
 *   The order of the rows in the page is the order of the `messages` list the form sends (each row's
 *   fields carry its key, listed in order by a hidden `msg_row` input), so nothing else needs syncing;
 *   the row labels (`messages[2]`) are renumbered and a screen reader hears where a row went.
 * - the kind switch of a new prompt shows the template or the message rows;
 * - a parameter row shows the fields its type takes (enum values, list items, a JSON Schema);
 * - removable rows (`[data-row]` with a `[data-remove-row]` button), e.g. dependencies;
 * - a field whose live check (an out-of-band `[data-check-for]` slot) holds an error gets aria-invalid;
 * - test cases: when an action (Save as test case, Update snapshots) rewrote the tests box, the form hears
 *   of it (live check, unsaved changes); typing a preview value un-selects the test case it came from.
 * Every change is announced to the form as a "change" event: it re-runs the live checks and marks the
 * editor as having unsaved changes.
 */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function changed(element) {
    if (element && document.contains(element)) {
      element.dispatchEvent(new Event("change", { bubbles: true }));
    }
  }

  // --- chat messages -----------------------------------------------------------------------
  const list = document.querySelector("[data-msg-rows]");
  const announcer = document.getElementById("msg-announce");

  function rowsOf() {
    return list ? Array.prototype.filter.call(list.children, function (el) { return el.matches("[data-msg-row]"); }) : [];
  }

  function renumber() {
    rowsOf().forEach(function (row, i) {
      row.querySelectorAll("[data-msg-index]").forEach(function (el) { el.textContent = "messages[" + i + "]"; });
    });
  }

  function say(text) {
    if (!announcer) return;
    announcer.textContent = "";
    window.setTimeout(function () { announcer.textContent = text; }, 40);
  }

  function position(row) {
    const rows = rowsOf();
    const i = rows.indexOf(row);
    return "messages[" + i + "], " + (i + 1) + " of " + rows.length;
  }

  // Moves the neighbour instead of the row itself, so the focused control never leaves the document.
  function move(row, up) {
    const other = up ? row.previousElementSibling : row.nextElementSibling;
    if (!other || !other.matches("[data-msg-row]")) {
      say(up ? "Already the first message." : "Already the last message.");
      return;
    }
    if (up) {
      list.insertBefore(other, row.nextElementSibling);
    } else {
      list.insertBefore(other, row);
    }
    renumber();
    say("Moved to " + position(row) + ".");
    changed(row);
  }

  if (list) {
    list.addEventListener("click", function (e) {
      const mover = e.target.closest("[data-move]");
      if (mover) {
        move(mover.closest("[data-msg-row]"), mover.dataset.move === "up");
        return;
      }
      const remover = e.target.closest("[data-remove-msg]");
      if (!remover) return;
      const row = remover.closest("[data-msg-row]");
      const next = row.nextElementSibling || row.previousElementSibling;
      const form = row.closest("form");
      row.remove();
      renumber();
      const focus = next ? next.querySelector("textarea, input:not([type=hidden]), select")
        : document.querySelector("[data-add-message]");
      if (focus) focus.focus();
      say("Message removed; " + rowsOf().length + " left.");
      changed(form);
    });

    document.addEventListener("keydown", function (e) {
      if (!e.altKey || e.ctrlKey || e.metaKey || (e.key !== "ArrowUp" && e.key !== "ArrowDown")) return;
      const row = e.target.closest && e.target.closest("[data-msg-row]");
      if (!row || !list.contains(row) || !row.querySelector("[data-move]")) return;
      e.preventDefault();
      move(row, e.key === "ArrowUp");
    });

    // drag and drop: a row becomes draggable while its handle is held, so text in it stays selectable
    let dragged = null;
    list.addEventListener("mousedown", function (e) {
      const handle = e.target.closest("[data-drag-handle]");
      if (handle) handle.closest("[data-msg-row]").draggable = true;
    });
    list.addEventListener("mouseup", function () {
      rowsOf().forEach(function (row) { if (row !== dragged) row.draggable = false; });
    });
    list.addEventListener("dragstart", function (e) {
      const row = e.target.closest && e.target.closest("[data-msg-row]");
      if (!row || !row.draggable) return;
      dragged = row;
      row.classList.add("dragging");
      e.dataTransfer.effectAllowed = "move";
      e.dataTransfer.setData("text/plain", row.querySelector("[data-msg-index]").textContent);
    });
    list.addEventListener("dragover", function (e) {
      if (!dragged) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = "move";
      const over = e.target.closest("[data-msg-row]");
      if (!over || over === dragged || over.parentNode !== list) return;
      const box = over.getBoundingClientRect();
      list.insertBefore(dragged, e.clientY > box.top + box.height / 2 ? over.nextElementSibling : over);
    });
    list.addEventListener("drop", function (e) {
      if (dragged) e.preventDefault();
    });
    list.addEventListener("dragend", function () {
      if (!dragged) return;
      const row = dragged;
      row.classList.remove("dragging");
      row.draggable = false;
      dragged = null;
      renumber();
      say("Moved to " + position(row) + ".");
      changed(row);
    });
  }

  // --- the kind of a new prompt, the fields of a parameter's type -------------------------------
  document.addEventListener("change", function (e) {
    const t = e.target;
    if (t.matches("[data-kind-choice]")) {
      document.querySelectorAll("[data-kind-section]").forEach(function (section) {
        section.toggleAttribute("data-inactive", section.dataset.kindSection !== t.value);
      });
    }
    if (t.matches("[data-role-select]")) {  // the row's colour follows its role
      const row = t.closest("[data-msg-row]");
      Array.from(row.classList).forEach(function (c) { if (c.indexOf("role-") === 0) row.classList.remove(c); });
      row.classList.add("role-" + t.value);
    }
    if (t.matches("[data-param-type], [data-param-items]")) {
      const row = t.closest("[data-param-row]");
      const type = row.querySelector("[data-param-type]").value;
      const items = row.querySelector("[data-param-items]");
      row.querySelectorAll("[data-for-type]").forEach(function (el) { el.hidden = el.dataset.forType !== type; });
      const schema = row.querySelector("[data-for-schema]");
      if (schema) schema.hidden = !(type === "object" || (type === "list" && items && items.value === "object"));
    }
  });

  // --- removable rows of a plain form (the set's dependencies) ----------------------------------
  document.addEventListener("click", function (e) {
    const button = e.target.closest("[data-row] [data-remove-row]");
    if (!button) return;
    const row = button.closest("[data-row]");
    const form = row.closest("form");
    const next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    const focus = next ? next.querySelector("select, input:not([type=hidden])") : form.querySelector("[data-add-dependency]");
    if (focus) focus.focus();
    changed(form);
  });

  // --- after htmx: new rows, live checks ---------------------------------------------------------
  function markInvalid() {
    document.querySelectorAll("[data-check-for]").forEach(function (slot) {
      const field = document.getElementById(slot.dataset.checkFor);
      if (!field) return;
      if (slot.querySelector(".row-error")) field.setAttribute("aria-invalid", "true");
      else field.removeAttribute("aria-invalid");
    });
  }

  function grow(root) {
    root.querySelectorAll("textarea.autogrow").forEach(function (t) {
      if (!t.value) return;
      t.style.height = "auto";
      t.style.height = Math.min(t.scrollHeight + 2, 320) + "px";
    });
  }

  // the tests box a test-case action sent back (marked data-tests-changed) is new content of the form
  function testsRewritten() {
    const box = document.getElementById("tests-field");
    if (!box || !box.hasAttribute("data-tests-changed")) return;
    box.removeAttribute("data-tests-changed");
    const name = document.getElementById("new-case-name");
    if (name && document.querySelector("#save-case-status .good")) name.value = "";
    grow(box);
    changed(box.querySelector("textarea"));
  }

  const previewForm = document.getElementById("preview-form");
  if (previewForm) {
    previewForm.addEventListener("input", function () {
      const picker = document.getElementById("preview-case");
      if (picker) picker.value = "";
    });
  }

  document.body.addEventListener("htmx:afterSettle", function (e) {
    markInvalid();
    testsRewritten();
    const target = e.detail && e.detail.target;
    if (target && target === list) {
      renumber();
      changed(list.closest("form"));
    }
    if (target && target.id === "dep-rows") {
      const empty = target.querySelector("[data-no-sets]");
      if (empty) empty.remove();
    }
  });
  grow(document);
})();
