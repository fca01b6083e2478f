// Inline decisions in the approvals inbox (templates/approvals/_row.html). A refusal
// (400: a rejection needs a comment; 403: not yours to decide; 409: decided meanwhile,
// or the evidence the policy requires is missing) comes back as the row re-rendered
// with the reason in it. htmx swaps only 2xx answers unless told: this tells it, for
// targets marked data-swap-errors.
(function () {
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if ((status === 400 || status === 403 || status === 409) && event.target.closest("[data-swap-errors]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
