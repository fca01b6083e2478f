// Generated forms (apps/catalog/schema_form, templates/catalog/widgets/).
// Without this file every field is shown, a list offers one spare blank row,
// and the server ignores the conditional fields that do not apply. With it:
//  - an element with data-show-when is shown only while its condition holds;
//    hidden ones have their inputs disabled, so they are not submitted;
//  - lists of objects get "Add an item" (a copy of their <template> row) and
//    "Remove" buttons instead of the spare row.
// Conditions: {"field": name, "present": true} | {"field": name, "in": [values]}
//             | {"not": c} | {"all": [c...]} | {"any": [c...]}
(function () {
  "use strict";

  function values(root, name) {
    var found = [];
    root.querySelectorAll("input, select, textarea").forEach(function (input) {
      if (input.name !== name || (input.disabled && !input.hasAttribute("data-read-only"))) { return; }
      if (input.hasAttribute("data-boolean")) { found.push(input.checked ? "true" : "false"); return; }
      if ((input.type === "checkbox" || input.type === "radio") && !input.checked) { return; }
      if (input.tagName === "SELECT") {
        Array.from(input.selectedOptions).forEach(function (option) { if (option.value !== "") { found.push(option.value); } });
        return;
      }
      if (input.value.trim() !== "") { found.push(input.value.trim()); }
    });
    return found;
  }

  function holds(root, c) {
    if (c.all) { return c.all.every(function (part) { return holds(root, part); }); }
    if (c.any) { return c.any.some(function (part) { return holds(root, part); }); }
    if (c.not) { return !holds(root, c.not); }
    var found = values(root, c.field);
    if (c.present) { return found.length > 0; }
    return found.some(function (value) { return c.in.indexOf(value) !== -1; });
  }

  function controls(element) {
    return element.matches("input, select, textarea") ? [element] : element.querySelectorAll("input, select, textarea");
  }

  function refresh(root) {
    // Parents come before their children in document order, and a condition
    // may read a field another condition hides: go round until nothing changes.
    for (var pass = 0, changed = true; changed && pass < 5; pass++) {
      changed = false;
      root.querySelectorAll("[data-show-when]").forEach(function (element) {
        var parent = element.parentElement && element.parentElement.closest("[data-show-when]");
        var shown = !(parent && parent.hidden) && holds(root, JSON.parse(element.dataset.showWhen));
        if (element.hidden === !shown) { return; }
        changed = true;
        element.hidden = !shown;
        controls(element).forEach(function (input) {
          if (!input.hasAttribute("data-read-only")) { input.disabled = !shown; }
        });
      });
    }
  }

  function renumber(list) {
    list.querySelectorAll(":scope > [data-items] > [data-item]").forEach(function (item, index) {
      var number = item.querySelector(":scope > legend > [data-item-number]");
      if (number) { number.textContent = String(index + 1); }
    });
    var max = parseInt(list.dataset.maxItems, 10);
    var count = list.querySelectorAll(":scope > [data-items] > [data-item]").length;
    var add = list.querySelector(":scope > [data-add-item]");
    if (add) { add.disabled = !isNaN(max) && count >= max; }
  }

  function enhance(scope) {
    scope.querySelectorAll("[data-list]").forEach(function (list) {
      list.querySelectorAll(":scope > [data-items] > [data-spare]").forEach(function (row) { row.remove(); });
      list.querySelectorAll(":scope > [data-add-item]").forEach(function (button) { button.hidden = false; });
      renumber(list);
    });
    scope.querySelectorAll("[data-remove-item]").forEach(function (button) { button.hidden = false; });
  }

  function addItem(list) {
    var template = list.querySelector(":scope > template[data-item-template]");
    var index = parseInt(list.dataset.nextIndex, 10) || 0;
    list.dataset.nextIndex = String(index + 1);
    var holder = document.createElement("div");
    holder.innerHTML = template.innerHTML.split(template.dataset.placeholder).join(String(index));
    var item = holder.firstElementChild;
    list.querySelector(":scope > [data-items]").appendChild(item);
    enhance(item);
    renumber(list);
    var first = item.querySelector("input:not([type=hidden]), select, textarea");
    if (first) { first.focus(); }
  }

  function init(scope) {
    scope.querySelectorAll("[data-schema-form]:not([data-ready])").forEach(function (root) {
      root.setAttribute("data-ready", "");
      enhance(root);
      root.addEventListener("click", function (event) {
        var add = event.target.closest("[data-add-item]");
        var remove = event.target.closest("[data-remove-item]");
        if (add) {
          addItem(add.closest("[data-list]"));
        } else if (remove) {
          var list = remove.closest("[data-list]");
          remove.closest("[data-item]").remove();
          renumber(list);
        } else {
          return;
        }
        refresh(root);
      });
      root.addEventListener("change", function () { refresh(root); });
      root.addEventListener("input", function () { refresh(root); });
      refresh(root);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(document); });
  } else {
    init(document);
  }
  document.addEventListener("htmx:load", function (event) { init(event.detail.elt); });
})();
