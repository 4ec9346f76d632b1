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
  button.hidden = false;
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
