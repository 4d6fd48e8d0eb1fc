// What a page does with a failed call: a refused token signs the console out (main.js listens),
// anything else is said where the data would have been.
import { Unauthorized } from "./api.js";
import { h } from "./dom.js";

export function reportError(error, container, what = "Could not load this") {
  if (error instanceof Unauthorized) {
    window.dispatchEvent(new CustomEvent("syncpipe:unauthorized"));
    return;
  }
  container.append(h("p", { class: "error", role: "alert" }, `${what}: ${error.message}`));
}
