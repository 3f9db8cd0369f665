// @ts-check
// Making and finding elements. Text is always set as text, never as markup: everything the
// windows show from a server, a rule or an agent arrives here.

/**
 * A new element with its text and class.
 * @template {keyof HTMLElementTagNameMap} T
 * @param {T} tag
 * @param {string | number | null} [text]
 * @param {string} [cls]
 * @returns {HTMLElementTagNameMap[T]}
 */
export function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

/**
 * The element with this id, of this kind. A page without it is a bug, said at once.
 * @template {HTMLElement} T
 * @param {string} id
 * @param {{ new (): T, name: string }} kind
 * @returns {T}
 */
export function byId(id, kind) {
  const e = document.getElementById(id);
  if (!(e instanceof kind)) throw new Error(`#${id} is not a ${kind.name} on this page`);
  return e;
}
