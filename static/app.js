// Enhancements only: without JavaScript the page and its form work as they are.
"use strict";

const status = document.querySelector(".status");

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain-HTTP fallback: copy from a selection.
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "status";
  document.body.append(area);
  area.select();
  const copied = document.execCommand("copy");
  area.remove();
  if (!copied) throw new Error("copy refused");
}

for (const button of document.querySelectorAll("button[data-copy]")) {
  button.hidden = button.hasAttribute("data-pending"); // shown once there is something to copy
  button.addEventListener("click", async () => {
    const source = document.getElementById(button.dataset.copy);
    let message;
    try {
      await copyText(source.textContent.trim());
      message = "Copied";
    } catch {
      message = "Copy failed";
    }
    button.textContent = message;
    status.textContent = "";
    status.textContent = message; // a fresh change, so screen readers announce it
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });
}

const form = document.querySelector(".args-form");
if (form) {
  const rows = form.querySelector(".arg-rows");
  const template = document.getElementById("arg-row-template");

  const wireRow = (row) => {
    const remove = row.querySelector(".remove-row");
    remove.hidden = false;
    remove.addEventListener("click", () => {
      const next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      (next ? next.querySelector("input") : form.querySelector(".add-row")).focus();
    });
  };
  rows.querySelectorAll(".arg-row").forEach(wireRow);

  const add = form.querySelector(".add-row");
  add.hidden = false;
  add.addEventListener("click", () => {
    const row = template.content.firstElementChild.cloneNode(true);
    rows.append(row);
    wireRow(row);
    row.querySelector("input").focus();
  });

  // Go straight to the new query string, without the server's redirect.
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const row of rows.querySelectorAll(".arg-row")) {
      const [name, value] = row.querySelectorAll("input");
      if (name.value || value.value) params.append(name.value, value.value);
    }
    const query = params.toString();
    window.location.assign(query ? `/?${query}` : "/");
  });
}

// Both addresses: this site under a hostname with only an A record, and one with
// only AAAA. A family the network lacks fails or hangs; say so within seconds,
// and say so differently when the site answered but refused.
const families = document.querySelector(".families");
if (families) {
  const FAMILY_TIMEOUT_MS = 4000;

  const refusal = (family, response) => {
    if (response.status === 429) {
      const wait = response.headers.get("Retry-After");
      return `Not checked: too many requests from this network just now${wait ? `; try again in ${wait} seconds` : ""}.`;
    }
    return `Not checked: the site answered ${response.status} over IPv${family}; try again later.`;
  };

  for (const family of ["4", "6"]) {
    const shown = document.getElementById(`ipv${family}`);
    const copy = families.querySelector(`button[data-copy="ipv${family}"]`);
    const unavailable = (message) => {
      shown.textContent = message;
      shown.classList.add("unavailable");
    };
    shown.textContent = "Checking…";
    fetch(families.dataset[`ipv${family}Url`], {
      cache: "no-store",
      credentials: "omit",
      signal: AbortSignal.timeout(FAMILY_TIMEOUT_MS),
    })
      .then(async (response) => {
        if (!response.ok) {
          unavailable(refusal(family, response));
          return;
        }
        shown.textContent = (await response.json()).ip;
        copy.hidden = false;
      })
      .catch((error) => {
        unavailable(
          error.name === "TimeoutError"
            ? `Not available: no answer over IPv${family} within ${FAMILY_TIMEOUT_MS / 1000} seconds; this network's IPv${family} may be missing or broken.`
            : `Not available: no IPv${family} connection from this network.`,
        );
      });
  }
}

// Who runs this network: asked of the registry only once the page has loaded,
// so that a slow registry never holds the page up. Without JavaScript the card
// keeps its link to the lookup page, which asks the registry itself.
const owner = document.querySelector(".owner[data-owner-url]");
if (owner) {
  const pending = owner.querySelector(".owner-pending");
  pending.textContent = "Asking the registry…";
  fetch(owner.dataset.ownerUrl, { cache: "no-store", credentials: "omit" })
    .then(async (response) => {
      if (!response.ok) throw new Error(String(response.status));
      // Our own page's fragment, rendered and escaped by the server.
      const card = new DOMParser().parseFromString(await response.text(), "text/html");
      pending.replaceWith(...card.body.childNodes);
    })
    .catch(() => {
      pending.textContent = "The registry could not be asked just now; try again in a minute.";
      pending.classList.add("unavailable");
    });
}
