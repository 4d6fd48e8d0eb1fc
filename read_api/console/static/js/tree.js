// The department tree as nested lists with disclosure buttons: each toggle is a real <button> with
// aria-expanded and aria-controls, so it works with Tab, Enter and Space and screen readers say its state.
import { h, uniqueId } from "./dom.js";
import { badge } from "./format.js";

/**
 * `roots`: the read API's `?format=tree` answer (nodes with orgCode, orgName, parentCode, orphan,
 * cycle, children); `usersByDepartment`: orgCode -> number of users in it.
 */
export function departmentTree(roots, usersByDepartment) {
  const list = h("ul", { class: "tree", id: "department-tree" });
  for (const node of sortNodes(roots)) list.append(treeNode(node, usersByDepartment));
  const setAll = (expanded) => {
    if (!expanded) {
      for (const toggle of list.querySelectorAll("button.tree-toggle")) setExpanded(toggle, false);
      return;
    }
    // Opening a node builds its children, which bring toggles of their own: go on until none is closed.
    let closed;
    while ((closed = list.querySelectorAll('button.tree-toggle[aria-expanded="false"]')).length) {
      for (const toggle of closed) setExpanded(toggle, true);
    }
  };
  const controls = h("div", { class: "tree-controls" },
    h("button", { type: "button", class: "button-quiet", id: "tree-expand-all", onClick: () => setAll(true) }, "Expand all"),
    h("button", { type: "button", class: "button-quiet", id: "tree-collapse-all", onClick: () => setAll(false) }, "Collapse all"));
  return { controls, list };
}

function sortNodes(nodes) {
  return [...nodes].sort((a, b) => (a.orgName || a.orgCode).localeCompare(b.orgName || b.orgCode) || a.orgCode.localeCompare(b.orgCode));
}

function treeNode(node, usersByDepartment) {
  const users = usersByDepartment.get(node.orgCode) || 0;
  const label = h("span", { class: "tree-label" },
    h("span", { class: "tree-name" }, node.orgName || "(no name)"),
    h("code", { class: "tree-code" }, node.orgCode),
    node.orphan ? badge("orphan", "orphan: parent unknown") : null,
    node.cycle ? badge("cycle", "cycle") : null,
    users ? h("span", { class: "tree-users muted" }, users === 1 ? "1 user" : `${users} users`) : null);
  const item = h("li", { dataset: { orgCode: node.orgCode }, class: node.orphan || node.cycle ? "tree-item flagged" : "tree-item" });
  if (!node.children.length) {
    item.append(h("div", { class: "tree-row" }, h("span", { class: "tree-leaf", "aria-hidden": "true" }), label));
    return item;
  }
  const childrenId = uniqueId("department");
  const children = h("ul", { id: childrenId, class: "tree-children", hidden: true });
  const toggle = h("button", {
    type: "button", class: "tree-toggle", "aria-expanded": "false", "aria-controls": childrenId,
    onClick: () => setExpanded(toggle, toggle.getAttribute("aria-expanded") !== "true"),
  }, h("span", { class: "visually-hidden" }, `${node.orgName || node.orgCode}: ${node.children.length} sub-departments`));
  toggle.childList = children;
  item.append(h("div", { class: "tree-row" }, toggle, label), children);
  // Children are built on first opening: a tenant may have 100k departments.
  toggle.buildChildren = () => {
    for (const child of sortNodes(node.children)) children.append(treeNode(child, usersByDepartment));
    toggle.buildChildren = null;
  };
  return item;
}

function setExpanded(toggle, expanded) {
  if (expanded && toggle.buildChildren) toggle.buildChildren();
  toggle.setAttribute("aria-expanded", String(expanded));
  toggle.childList.hidden = !expanded;
}
