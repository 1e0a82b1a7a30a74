"""GET /v1/engagement/{kind}/{ID}/dimensions (the dashboard's filter picker) on the live server
and a real DuckDB file: the values of the content's counted views, counted, per environment."""

from __future__ import annotations

import time

NOW_MS = int(time.time() * 1000)
HOUR_MS = 3_600_000
PATH = "/v1/engagement/assets/talk/dimensions"


def view(i: int, **fields) -> dict:
    return {"view_id": f"v{i}", "asset_id": "talk", "view_start": NOW_MS - HOUR_MS - i * 1000,
            "view_end": NOW_MS - HOUR_MS + 60_000, "duration_ms": 90_000, "ranges": [[0, 30_000]], **fields}


def audience() -> list[dict]:
    """Six counted views (4 US, 2 DE; 3 "My player"; custom_2 on two), one view too old to count,
    one of other content, one without a country."""
    views = [view(i, country="US" if i < 4 else "DE", player_name="My player" if i % 2 else None,
                  custom_2="premium" if i < 2 else None) for i in range(6)]
    views += [view(6, country="FR", view_start=NOW_MS - 9 * 24 * HOUR_MS, view_end=NOW_MS - 9 * 24 * HOUR_MS + 60_000),
              view(7, country="JP", asset_id="other"), view(8)]
    return views


def test_values_of_the_counted_views_most_common_first(server):
    tenant = server.tenant()
    with server.client(tenant) as c:
        assert c.post("/v1/views", json=audience()).json()["data"]["accepted"] == 9
        body = c.get(PATH).json()
        narrowed = c.get(PATH, params={"filters[]": "country:DE"}).json()
        heatmap = c.get("/data/v1/engagement/assets/talk/heatmap").json()
    assert body["data"] == [
        {"dimension": "country", "values": [{"value": "US", "views": 4}, {"value": "DE", "views": 2}]},
        {"dimension": "player_name", "values": [{"value": "My player", "views": 3}]},
        {"dimension": "custom_2", "values": [{"value": "premium", "views": 2}]},
    ]
    assert body["sampled_views"] == body["total_views"] == heatmap["data"]["total_views"] == 7
    assert body["timeframe"] == heatmap["timeframe"]
    # filters[] narrows the views read, as on every engagement endpoint.
    assert narrowed["data"][0] == {"dimension": "country", "values": [{"value": "DE", "views": 2}]}
    assert narrowed["total_views"] == 2


def test_errors_have_the_mux_shape_and_stay_in_the_environment(server):
    a, b = server.tenant("a"), server.tenant("b")
    with server.client(a) as ca, server.client(b) as cb, server.client() as anonymous:
        assert ca.post("/v1/views", json=audience()).json()["data"]["accepted"] == 9
        # B cannot see A's content, and gets the same answer as for an id nobody has.
        foreign, missing = cb.get(PATH), cb.get("/v1/engagement/assets/never-seen/dimensions")
        assert foreign.status_code == missing.status_code == 404
        assert foreign.json()["error"]["type"] == "not_found"
        assert foreign.json()["error"]["messages"] == [m.replace("never-seen", "talk") for m in missing.json()["error"]["messages"]]
        assert anonymous.get(PATH).status_code == 401
        for params, needle in (({"filters[]": "planet:Mars"}, "unknown dimension"), ({"limit": "3"}, "limit"),
                               ({"timeframe[]": "soon"}, "timeframe")):
            response = ca.get(PATH, params=params)
            assert response.status_code == 400, params
            error = response.json()["error"]
            assert error["type"] == "invalid_parameters" and needle in " ".join(error["messages"]), error
