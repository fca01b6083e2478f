// Destructive actions ask first: <button data-confirm="Cancel this run?">. A
// static file (the CSP allows no inline script); works for plain forms and htmx.
(function () {
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-confirm]");
    if (!button) return;
    if (!window.confirm(button.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
})();
