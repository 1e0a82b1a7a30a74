"""The lab: what moments simulates rather than measures.

- `simulate`: audiences of a content watching it (views with planted moments);
- `evaluation`: how well the hotspot detector finds planted moments, on audiences built not to
  share its assumptions (`moments lab hotspots`);
- `demo`: the demo environment `moments serve --demo` loads.

The service (ingestion, store, stats, api) never imports it; only `serve --demo` and the lab
command do.
"""
