// Building elements: the two helpers every panel uses (text goes in as text, never HTML).

const SVG = 'http://www.w3.org/2000/svg';

/** An HTML element with properties and children. */
export function html(name, props = {}, ...children) {
  const node = Object.assign(document.createElement(name), props);
  node.append(...children);
  return node;
}

/** An SVG element with attributes, appended to `parent` when given. */
export function svg(name, attributes = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  parent?.append(node);
  return node;
}
