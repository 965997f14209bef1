"""The public status page as people know status pages (Atlassian Statuspage, Cachet, Upptime):
component states in Statuspage's grades, incidents derived from them with operators' updates,
planned maintenance, a wedding-day banner, uptime history from Prometheus, and the
Statuspage-shaped JSON API. ``exporter.web.status_page`` serves the page; everything here is
computed in the background or once per second and served from a cache."""
