// The filter picker: a dimension and one of its values, as the content's views have them
// (GET /v1/engagement/{kind}/{id}/dimensions, without the current filters, so a second value of
// one dimension can be added: values of one dimension are ORed). "Keep" adds `dim:value`,
// "Leave out" adds `!dim:value`; the text field stays the place to read and edit them all.

import { html } from './dom.js';
import * as format from './format.js';

const NAMES = {
  country: 'Country', device_type: 'Device type', browser: 'Browser', os: 'Operating system', player_name: 'Player name',
};

/** "custom_3" -> "Custom 3"; the standard names as Mux's dashboard writes them. */
const dimensionName = (dimension) => NAMES[dimension] ?? dimension.replace('custom_', 'Custom ');

export class FilterPicker {
  /**
   * @param {HTMLElement} root  an empty, hidden element; the picker builds its controls inside
   * @param {{add: (filter: string) => void}} options  what a chosen filter does
   */
  constructor(root, { add }) {
    this.root = root;
    this.seq = 0;
    this.dimensions = [];
    this.dimension = html('select', { id: 'pick-dimension' });
    this.value = html('select', { id: 'pick-value' });
    this.dimension.addEventListener('change', () => this.fillValues());
    const button = (id, text, negated) => {
      const b = html('button', { type: 'button', className: 'button', id, textContent: text });
      b.addEventListener('click', () => add(`${negated ? '!' : ''}${this.dimension.value}:${this.value.value}`));
      return b;
    };
    this.note = html('span', { className: 'hint', id: 'pick-note' });
    root.replaceChildren(
      html('label', { htmlFor: 'pick-dimension', textContent: 'Pick' }), this.dimension,
      html('label', { htmlFor: 'pick-value', className: 'visually-hidden', textContent: 'Value' }), this.value,
      button('pick-keep', 'Keep', false), button('pick-drop', 'Leave out', true), this.note);
  }

  clear() {
    this.seq++;
    this.root.hidden = true;
  }

  /** Load the values for this content and timeframe; failures only hide the picker (the field still works). */
  async show({ api, kind, id, timeframe }) {
    const seq = ++this.seq;
    let body;
    try {
      body = await api.dimensions(kind, id, timeframe);
    } catch {
      if (seq === this.seq) this.root.hidden = true;
      return;
    }
    if (seq !== this.seq) return;
    this.dimensions = body.data;
    this.root.hidden = !this.dimensions.length;
    const chosen = this.dimension.value;
    this.dimension.replaceChildren(...this.dimensions.map(({ dimension }) => html('option', { value: dimension, textContent: dimensionName(dimension) })));
    if (this.dimensions.some((d) => d.dimension === chosen)) this.dimension.value = chosen;
    this.fillValues();
    this.note.textContent = body.sampled_views < body.total_views
      ? `Values of the newest ${format.count(body.sampled_views)} of ${format.plural(body.total_views, 'view')}.`
      : `Values of the ${format.plural(body.total_views, 'view')} in this timeframe.`;
  }

  fillValues() {
    const { values } = this.dimensions.find((d) => d.dimension === this.dimension.value) ?? { values: [] };
    this.value.replaceChildren(...values.map(({ value, views }) => html('option', { value, textContent: `${value} (${format.plural(views, 'view')})` })));
  }
}
