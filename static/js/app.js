// Mailer UI page glue. Loaded as an external file because the CSP forbids
// inline scripts and inline event handler attributes.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : null;
  }

  // Send the CSRF token with every htmx request.
  document.addEventListener("htmx:configRequest", function (evt) {
    var token = csrfToken();
    if (token) {
      evt.detail.headers["X-CSRF-Token"] = token;
    }
  });

  // 422 (a form with field errors) and 429 (a form with the rate-limit message) carry
  // content to show, and so does any error the server retargets to the flash region:
  // let htmx swap them in instead of dropping them.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr && (xhr.status === 422 || xhr.status === 429 || xhr.getResponseHeader("HX-Retarget"))) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    }
  });

  // While an htmx request from a form is in flight, disable its submit
  // buttons and mark them busy (Pico shows a spinner for aria-busy).
  // Only a submission counts: a request from another element inside a form (the
  // message editor's live preview) must not hold the form's Save button.
  function formOf(elt) {
    if (!elt) return null;
    if (elt.tagName === "FORM") return elt;
    if (elt.type === "submit") return elt.form;
    return null;
  }

  function submitButtons(form) {
    return form.querySelectorAll(
      'button[type="submit"], button:not([type]), input[type="submit"]'
    );
  }

  document.addEventListener("htmx:beforeRequest", function (evt) {
    var form = formOf(evt.detail.elt);
    if (!form) return;
    submitButtons(form).forEach(function (btn) {
      if (btn.disabled) return; // leave buttons that were already disabled
      btn.disabled = true;
      btn.setAttribute("aria-busy", "true");
      btn.setAttribute("data-app-busy", "");
    });
  });

  document.addEventListener("htmx:afterRequest", function (evt) {
    var form = formOf(evt.detail.elt);
    if (!form) return;
    form.querySelectorAll("[data-app-busy]").forEach(function (btn) {
      btn.disabled = false;
      btn.removeAttribute("aria-busy");
      btn.removeAttribute("data-app-busy");
    });
  });

  // Confirm before a plain (non-htmx) submit of <form data-confirm="...">.
  // htmx-handled submits have already been default-prevented by htmx by the
  // time the event bubbles here; hx-confirm covers that path.
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (evt.defaultPrevented || !form || form.tagName !== "FORM") return;
    var message = form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      evt.preventDefault();
    }
  });
})();

// Mailing form recipients: a client checked among the search results moves to the chosen
// list, so it stays chosen (and submitted) whatever is searched next. Enter in the search
// box searches instead of submitting the form.
(function () {
  "use strict";

  document.addEventListener("change", function (evt) {
    var box = evt.target;
    if (!box || box.name !== "client_ids" || !box.checked || !box.closest) return;
    var results = box.closest("#recipient-results");
    if (!results) return;
    var form = results.closest("form") || document;
    var chosen = form.querySelector("#selected-recipients");
    var label = box.closest("label");
    if (!chosen || !label) return;
    var same = chosen.querySelector('input[name="client_ids"][value="' + box.value + '"]');
    if (same) {
      same.checked = true;
      label.remove();
      return;
    }
    chosen.appendChild(label);
  });

  document.addEventListener("keydown", function (evt) {
    var input = evt.target;
    if (evt.key !== "Enter" || !input || !input.hasAttribute || !input.hasAttribute("data-recipient-search")) return;
    evt.preventDefault();
    input.dispatchEvent(new Event("search", { bubbles: true }));
  });
})();
