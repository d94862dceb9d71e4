/* Dash 4's own markup, repaired for assistive technology (axe-core: tests/test_accessibility.py).
 *
 * - RadioItems and Checklist draw native radios and checkboxes inside `label role="option"` in a
 *   `role="listbox"`: an interactive control nested in another, and a listbox with no name. The
 *   pages put each one in a fieldset whose legend names it, so the native inputs need no roles.
 * - Dropdown's Tab stop is a read-only input marked aria-hidden, which hands focus to a button
 *   named by its value only; it opens an unnamed dialog: a search box and a listbox of options
 *   that nest the radios the arrow keys focus. All are named by the control's label, and the
 *   radios are a plain group, as in RadioItems.
 * - Slider's thumb and number box have no name: both take the `<label for=slider-id>`.
 * React sets these attributes again on some updates, so every change of the page is repaired.
 */
(function () {
  "use strict";

  function set(element, name, value) {
    if (element.getAttribute(name) !== value) { element.setAttribute(name, value); }
  }

  function unset(element, name) {
    if (element.hasAttribute(name)) { element.removeAttribute(name); }
  }

  /* The id of the `<label for=id>` of a control, given one if it has none. */
  function labelId(forId) {
    const label = forId && document.querySelector('label[for="' + CSS.escape(forId) + '"]');
    if (!label) { return null; }
    if (!label.id) { label.id = forId + "-label"; }
    return label.id;
  }

  function repairOptionLists(root) {
    root.querySelectorAll(".dash-radioitems, .dash-checklist").forEach(function (list) {
      unset(list, "role");
    });
    root.querySelectorAll(".dash-options-list-option").forEach(function (option) {
      unset(option, "role");
      unset(option, "aria-selected");
    });
  }

  function repairDropdowns(root) {
    root.querySelectorAll(".dash-dropdown-wrapper").forEach(function (wrapper) {
      const target = wrapper.querySelector(".dash-dropdown-focus-target");
      const button = wrapper.querySelector("button.dash-dropdown");
      if (!target || !button) { return; }
      const label = labelId(button.id);
      const named = [label, button.id + "-value"].filter(Boolean).join(" ");
      /* Tab lands on the focus target, which hands focus on to the button: both are named. */
      unset(target, "aria-hidden");
      set(target, "aria-labelledby", named);
      set(button, "aria-haspopup", "dialog");
      const own = (button.getAttribute("aria-labelledby") || "").split(" ");
      if (label && own.indexOf(label) === -1) {
        set(button, "aria-labelledby", [label].concat(own).filter(Boolean).join(" "));
      }
      /* The open list is a dialog (with its search box) that the label names too. */
      if (button.getAttribute("aria-expanded") !== "true" || !label) { return; }
      /* Only one list is open at a time; Radix names it in aria-controls, when it does. */
      const popup = document.getElementById(button.getAttribute("aria-controls") || "") ||
        document.querySelector('.dash-dropdown-content[data-state="open"]');
      if (!popup) { return; }
      set(popup, "aria-labelledby", label);
      /* Arrow keys move focus through the options' native radios (checkboxes if multi): the
         list is the group of those, named by the label, not a listbox of options. */
      popup.querySelectorAll(".dash-dropdown-options").forEach(function (list) {
        set(list, "role", "group");
        set(list, "aria-labelledby", label);
      });
    });
  }

  function repairSliders(root) {
    root.querySelectorAll(".dash-slider-container[id]").forEach(function (slider) {
      const label = labelId(slider.id);
      if (!label) { return; }
      slider.querySelectorAll(".dash-slider-thumb:not([aria-label]), .dash-range-slider-input")
        .forEach(function (control) { set(control, "aria-labelledby", label); });
    });
  }

  function repair() {
    repairOptionLists(document);
    repairDropdowns(document);
    repairSliders(document);
  }

  /* Repairs before the next paint; `set` and `unset` change nothing twice, so this settles. */
  const observer = new MutationObserver(repair);

  function start() {
    repair();
    observer.observe(document.body, {
      childList: true,
      subtree: true,
      attributes: true,
      attributeFilter: [
        "role", "aria-selected", "aria-hidden", "aria-expanded", "aria-haspopup", "aria-labelledby",
      ],
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
