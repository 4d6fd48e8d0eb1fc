// A confirmation before anything that changes the pipeline (retry, drop): a native modal <dialog>,
// so focus is trapped and Escape cancels without any code of ours.

/** Resolves true when the operator confirms, false when they cancel or press Escape. */
export function confirmAction({ title, text, confirmLabel, danger = false }) {
  const dialog = document.getElementById("confirm");
  dialog.querySelector("#confirm-title").textContent = title;
  dialog.querySelector("#confirm-text").textContent = text;
  const ok = dialog.querySelector("#confirm-ok");
  ok.textContent = confirmLabel;
  ok.className = danger ? "button-danger" : "button-primary";
  dialog.returnValue = "cancel";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
    dialog.showModal();
    dialog.querySelector("button[value=cancel]").focus();
  });
}
