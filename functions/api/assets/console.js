// The console's only script: small conveniences over plain HTML forms, which work without it.
// No framework, no build step; the Content-Security-Policy allows this file and nothing else.
"use strict";

document.addEventListener("click", function (event) {
  // Copy buttons: <button data-copy="#id"> copies that element's text.
  const copy = event.target.closest("[data-copy]");
  if (copy) {
    const source = document.querySelector(copy.getAttribute("data-copy"));
    if (!source) { return; }
    const copied = function () {
      const done = copy.getAttribute("data-copied");
      if (done) {
        const before = copy.textContent;
        copy.textContent = done;
        setTimeout(function () { copy.textContent = before; }, 1500);
      }
    };
    // Without a secure context (a console on plain http off loopback) there is no clipboard
    // API: the text is selected, and copied the old way if the browser still allows it.
    const select = function () {
      if (source.select) { source.select(); }
      try { if (document.execCommand("copy")) { copied(); } } catch (e) { /* selected */ }
    };
    if (navigator.clipboard) {
      navigator.clipboard.writeText(source.value || source.textContent.trim()).then(copied, select);
    } else {
      select();
    }
    return;
  }
  // Rows of a table the user extends: <button data-add-row="#table-id"> clones its
  // <template>; <button data-remove-row> removes its row.
  const add = event.target.closest("[data-add-row]");
  if (add) {
    const table = document.querySelector(add.getAttribute("data-add-row"));
    const template = table && table.querySelector("template");
    if (template) {
      const body = table.querySelector("tbody");
      body.appendChild(template.content.cloneNode(true));
      const fields = body.lastElementChild.querySelectorAll("input, select");
      if (fields.length) { fields[0].focus(); }
    }
    return;
  }
  const remove = event.target.closest("[data-remove-row]");
  if (remove) {
    const row = remove.closest("tr");
    if (row) { row.remove(); }
  }
});

// Forms that destroy something ask first: <form data-confirm="Delete?">.
document.addEventListener("submit", function (event) {
  const question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// Parts of a form that only matter for one choice: <div data-show-when="name=value">.
function showWhen() {
  document.querySelectorAll("[data-show-when]").forEach(function (part) {
    const [name, value] = part.getAttribute("data-show-when").split("=");
    const field = document.querySelector("[name='" + name + "']:checked, select[name='" + name + "']");
    const current = field ? (field.type === "checkbox" ? (field.checked ? "on" : "") : field.value) : "";
    const shown = current === value;
    part.hidden = !shown;
    part.querySelectorAll("input, select, textarea").forEach(function (f) { f.disabled = !shown; });
  });
}
document.addEventListener("change", showWhen);
document.addEventListener("DOMContentLoaded", showWhen);

// Secondary filters fold away on a phone: <details open data-fold-narrow>.
document.addEventListener("DOMContentLoaded", function () {
  if (window.matchMedia("(max-width: 640px)").matches) {
    document.querySelectorAll("details[data-fold-narrow]").forEach(function (d) { d.open = false; });
  }
});
