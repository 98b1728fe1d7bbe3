// Helpers the browser test runs inside the LuCI page. They read the dialog
// through LuCI's own objects (form sections, ui widgets) and act on it the way
// a click or a pick in a dropdown does; typing is done with the keyboard by the
// test itself.
/* global window, document, L, CustomEvent */
window.xfrmdTest = {
  modal() {
    return document.querySelector('.cbi-modal');
  },

  section() {
    const map = L.dom.findClassInstance(document.querySelector('.cbi-modal .cbi-map'));
    return map.children[0];
  },

  field(name) {
    return document.querySelector(`.cbi-modal .cbi-value[data-name="${name}"]`);
  },

  /** name → { title, help, tab, hidden } of the dialog's fields */
  fields() {
    const out = {};
    document.querySelectorAll('.cbi-modal .cbi-value[data-name]').forEach((f) => {
      const pane = f.closest('[data-tab]');
      out[f.getAttribute('data-name')] = {
        title: f.querySelector('.cbi-value-title')?.textContent.trim() ?? null,
        help: f.querySelector('.cbi-value-description')?.textContent.trim() ?? null,
        tab: pane ? pane.getAttribute('data-tab') : null,
        hidden: f.classList.contains('hidden'),
      };
    });
    return out;
  },

  /** the fields among `names` that show a validation error */
  flagged(names) {
    return names.filter((n) => {
      const f = this.field(n);
      return f != null && !f.classList.contains('hidden') && f.querySelector('.cbi-input-invalid') != null;
    });
  },

  /** the messages the flagged fields show */
  messages(names) {
    return Object.fromEntries(this.flagged(names).map((n) => [n, this.field(n).querySelector('.cbi-input-invalid').getAttribute('data-tooltip')]));
  },

  showTab(name) {
    const pane = this.field(name).closest('[data-tab]');
    const tab = pane.getAttribute('data-tab');
    const li = document.querySelector(`.cbi-modal .cbi-tabmenu > li[data-tab="${tab}"]`);
    li.querySelector('a').click();
    return tab;
  },

  showTabByName(tab) {
    document.querySelector(`.cbi-modal .cbi-tabmenu > li[data-tab="${tab}"] a`).click();
  },

  /** a click on a checkbox, when it is not in the wanted state */
  setFlag(name, on) {
    const input = this.field(name).querySelector('input[type="checkbox"]');
    if (input.checked !== on) input.click();
    return input.checked;
  },

  /** what picking (or creating) an entry in a LuCI dropdown does */
  pick(name, value) {
    const s = this.section();
    const el = s.getOption(name).getUIElement(s.section);
    if (value === '') el.setValue(null);
    else el.createItems(el.node, value);
    el.node.dispatchEvent(new CustomEvent('cbi-dropdown-change', { bubbles: true, detail: { instance: el, element: el.node, value: null } }));
    el.node.dispatchEvent(new CustomEvent('cbi-dropdown-close', { bubbles: true }));
    return el.getValue();
  },

  isDropdown(name) {
    return this.field(name).querySelector('.cbi-dropdown') != null;
  },

  formValue(name) {
    const s = this.section();
    return s.getOption(name).formvalue(s.section);
  },

  /** whether a click at the element's centre reaches it (nothing on top of it) */
  clickable(selector) {
    const el = document.querySelector(selector);
    if (!el) return false;
    el.scrollIntoView({ block: 'center' });
    const r = el.getBoundingClientRect();
    const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
    return hit != null && (hit === el || el.contains(hit));
  },

  dialogOpen() {
    return document.body.classList.contains('modal-overlay-active');
  },

  text(selector) {
    const n = document.querySelector(selector);
    return n ? n.innerText : null;
  },
};
